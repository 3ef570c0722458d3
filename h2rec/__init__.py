"""H2Rec: sequential recommendation with harmonised Semantic IDs and Hash IDs."""

from h2rec import env as _env

_env.apply()

__version__ = "0.1.0"
