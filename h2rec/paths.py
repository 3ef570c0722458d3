"""Where each stage writes, relative to the project root. dvc.yaml lists the same paths."""

from __future__ import annotations

from dataclasses import dataclass, fields
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

# Semantic IDs: stage `embed` (item text -> embeddings) and stage `tokenize` (-> codes).
FEATURES = Path("data/features")
ITEM_EMBEDDINGS = FEATURES / "item_embeddings.npz"  # item, item_id, embeddings, model_key
EMBED_META = FEATURES / "embed_meta.json"  # model, dim, the embed params that made it
EMBED_CACHE = Path("data/cache/embeddings")  # <model key>.npz; git-ignored, not a DVC out
GRAPH_EXPORTS = Path("data/cache/onnx")  # <model key>/model.onnx for embed.backend other than torch
EMBED_VALIDATION = VALIDATION_REPORTS / "embeddings.json"
SID = Path("data/sid")
SIDS = SID / "sids.parquet"
SID_META = SID / "sid_meta.json"
SID_QUANTIZER = SID / "quantizer"
SID_VALIDATION = VALIDATION_REPORTS / "sids.json"
TOKENIZER_METRICS = METRICS / "tokenizer.json"
SID_REPORTS = REPORTS / "sid"
CODE_USAGE_TABLE = SID_REPORTS / "code_usage.csv"
CODE_USAGE_PLOT = SID_REPORTS / "code_usage.png"

# Training and evaluation: stage `train` (checkpoints, history) and stage `evaluate`.
MODELS = Path("models")
MODEL_DIR = MODELS / "recommender"  # best.pt, last.pt, run.json (MLflow run of the training)
TRAIN_METRICS = METRICS / "train.json"
TRAIN_HISTORY = METRICS / "train_history.csv"  # one row per epoch (a DVC plot)
EVAL_METRICS = METRICS / "eval.json"  # flat {"<protocol>/<group>/<metric>": value}
EVAL_PLOTS = METRICS / "eval"  # full.csv, sampled.csv: one row per group (DVC plots)
EVAL_REPORTS = REPORTS / "eval"  # head_tail.png, buckets.png
MLRUNS = Path("mlruns")  # default MLflow store: mlruns/mlflow.db + artifacts

# ---- model lifecycle (stage `register`)
REGISTER_RECORD = METRICS / "register.json"  # version, gate decision and reason


@dataclass(frozen=True)
class Layout:
    """Where a pipeline's files live: the defaults above, or every one under another root.

    Stages take a Layout instead of a dozen folder arguments, so a benchmark or a test runs
    the library's own stages on its own folders (`Layout.under(tmp)`) without copying them.
    """

    canonical: Path = CANONICAL
    prepared: Path = PREPARED
    features: Path = FEATURES
    sid: Path = SID
    cooccurrence: Path = COOCCURRENCE
    model: Path = MODEL_DIR
    metrics: Path = METRICS
    reports: Path = REPORTS

    @classmethod
    def under(cls, root: Path | str) -> Layout:
        root = Path(root)
        return cls(**{f.name: root / getattr(cls, f.name) for f in fields(cls)})

    @property
    def item_embeddings(self) -> Path:
        return self.features / ITEM_EMBEDDINGS.name
