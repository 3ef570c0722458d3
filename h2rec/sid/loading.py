"""Load a saved quantizer of either method.

The implementations register themselves with `ResidualQuantizer.registry` when imported, so
this module, above both of them, is where they are imported (RQ-VAE pulls in torch, hence only
when a quantizer is actually loaded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from h2rec.sid.quantizer import ResidualQuantizer


def load_quantizer(directory: Path | str, **expect: Any) -> ResidualQuantizer:
    """`ResidualQuantizer.load` for whichever method `directory` holds; `expect` is checked."""
    import h2rec.sid.rqkmeans  # noqa: F401  (registers "rqkmeans")
    import h2rec.sid.rqvae  # noqa: F401  (registers "rqvae")

    return ResidualQuantizer.load(directory, **expect)
