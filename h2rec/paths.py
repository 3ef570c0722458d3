"""Where each stage writes, relative to the project root. dvc.yaml lists the same paths."""

from pathlib import Path

CANONICAL = Path("data/canonical")
CANONICAL_INTERACTIONS = CANONICAL / "interactions.parquet"
CANONICAL_ITEMS = CANONICAL / "items.parquet"

PREPARED = Path("data/prepared")
PREPARED_INTERACTIONS = PREPARED / "interactions.parquet"
PREPARED_ITEMS = PREPARED / "items.parquet"
PREPARED_USERS = PREPARED / "users.parquet"

METRICS = Path("metrics")
DATA_STATS = METRICS / "data_stats.json"

REPORTS = Path("reports")
VALIDATION_REPORTS = REPORTS / "validation"

# H2Rec: PPMI co-occurrence neighbours (stage `cooccurrence`), read by L_code when enabled.
COOCCURRENCE = Path("data/cooccurrence/ppmi.npz")
