"""SID-only SASRec: an item is the pooled vector of its Semantic ID codes.

Items that share codes share parameters, so an item never seen in training still gets a
meaningful vector (and a score) from its codes; items with the same full code tuple become
indistinguishable, the price the SID branch pays on head items. The composition of
`SidEmbedding` and the SASRec backbone.
"""

from __future__ import annotations

import numpy as np

from h2rec.config import BackboneConfig, SidConfig
from h2rec.models.backbone import make_backbone
from h2rec.models.items import SidEmbedding
from h2rec.models.losses import NextItemLoss
from h2rec.models.sequence import SequenceModel


def SIDSASRec(
    n_items: int,
    codes: np.ndarray,
    cardinalities: list[int],
    cfg: BackboneConfig,
    sid_cfg: SidConfig,
    loss: NextItemLoss,
    codebooks: list[np.ndarray] | None = None,
) -> SequenceModel:
    """`codebooks`: the quantizer's, to start the code vectors from (train.sid.init: codebooks)."""
    model = SequenceModel(n_items, SidEmbedding(codes, cardinalities, cfg.hidden, sid_cfg.pooling), make_backbone(cfg), loss)
    if codebooks is not None:
        model.items.init_from_codebooks(codebooks)
    return model
