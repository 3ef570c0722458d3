"""Read what a model is trained or evaluated on, and rebuild a trained model from its checkpoint.

The one place model inputs are read: the registry says what a configuration needs
(`needs`), and only that is loaded, from the folders of the `Layout` given.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from h2rec.config import TrainConfig
from h2rec.data.cooccurrence import load_cooccurrence
from h2rec.data.sequences import SeqDataset
from h2rec.errors import ConfigError
from h2rec.models.base import SequentialRecommender
from h2rec.models.inputs import ModelInputs, Needs
from h2rec.models.registry import build_model, needs, rebuild_needs
from h2rec.paths import Layout
from h2rec.sid.features import load_embeddings
from h2rec.sid.table import SidTable
from h2rec.train import checkpoint


def load_inputs(cfg: TrainConfig, layout: Layout = Layout(), wanted: Needs | None = None) -> ModelInputs:
    """The dataset and whatever else `cfg` needs (or `wanted`, when given), from `layout`."""
    wanted = wanted or needs(cfg)
    data = SeqDataset.load(layout.prepared)
    sid = SidTable.load(layout.sid, data.n_items, wanted.codebooks) if wanted.sid else None
    text = load_embeddings(layout.item_embeddings).vectors if wanted.text else None
    cooc = load_cooccurrence(layout.cooccurrence, data.n_items) if wanted.cooccurrence else None
    return ModelInputs(data, sid, text, cooc)


def load_trained(
    model_dir: Path | None = None, layout: Layout = Layout(), which: str = checkpoint.BEST
) -> tuple[SequentialRecommender, TrainConfig, SeqDataset]:
    """The model saved in `model_dir/which` (default: the layout's model folder), checked
    against the data it is about to meet.

    The weights replace any initialisation, so only the dataset and the Semantic IDs are read;
    a checkpoint trained on other data or Semantic IDs is refused (ConfigError naming what differs).
    """
    path = Path(model_dir or layout.model) / which
    ckpt = checkpoint.load(path)
    try:
        cfg = checkpoint.stored_config(json.loads(ckpt["config"]))
    except ValidationError as e:
        raise ConfigError(
            f"{path}: checkpoint written with settings this version no longer reads "
            f"({e.errors()[0]['loc']}); retrain it with `h2rec train`"
        ) from None
    inputs = load_inputs(cfg, layout, rebuild_needs(cfg))
    expected = checkpoint.identity(cfg, inputs.data.signature(), inputs.sid.signature() if inputs.sid else None)
    checkpoint.check_identity(ckpt, expected, path)
    model = build_model(cfg, inputs)
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, cfg, inputs.data
