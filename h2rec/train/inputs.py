"""Read what a model is trained or evaluated on, and rebuild a trained model from its checkpoint."""

from __future__ import annotations

from pathlib import Path

from h2rec import paths
from h2rec.models.base import SequentialRecommender
from h2rec.models.registry import build_model, entry
from h2rec.train import checkpoint
from h2rec.train.config import TrainConfig
from h2rec.train.data import SeqDataset
from h2rec.train.sid_table import SID_DIR, SidTable


def load_inputs(cfg: TrainConfig, prepared_dir: Path = paths.PREPARED, sid_dir: Path = SID_DIR,
                with_codebooks: bool = False) -> tuple[SeqDataset, SidTable | None]:
    """The dataset and, for a model registered with needs_sid, its Semantic ID table."""
    data = SeqDataset.load(prepared_dir)
    sid = SidTable.load(sid_dir, data.n_items, with_codebooks) if entry(cfg.model).needs_sid else None
    return data, sid


def load_trained(model_dir: Path = paths.MODEL_DIR, prepared_dir: Path = paths.PREPARED, sid_dir: Path = SID_DIR,
                 which: str = checkpoint.BEST) -> tuple[SequentialRecommender, TrainConfig, SeqDataset]:
    """The model saved in `model_dir/which`, checked against the data it is about to meet.

    The weights replace any initialisation, so codebooks are not read; a checkpoint trained on
    other data or Semantic IDs is refused (ConfigError naming what differs).
    """
    path = Path(model_dir) / which
    ckpt = checkpoint.load(path)
    cfg = TrainConfig.model_validate_json(ckpt["config"])
    data, sid = load_inputs(cfg, prepared_dir, sid_dir)
    expected = checkpoint.identity(cfg, data.signature(), sid.signature() if sid else None)
    checkpoint.check_identity(ckpt, expected, path)
    no_init = cfg.model_copy(update={"sid": cfg.sid.model_copy(update={"init_from_codebooks": False})})
    model = build_model(no_init, data, sid)
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, cfg, data
