"""SASRec (Kang & McAuley, 2018): a hash-ID item table read by a causal transformer.

One learned vector per item, tied between input and output; score = <last hidden state,
item vector>. The composition of `HidTable` and the SASRec backbone.
"""

from __future__ import annotations

import numpy as np

from h2rec.config import BackboneConfig
from h2rec.models.backbone import make_backbone
from h2rec.models.items import HidTable
from h2rec.models.losses import NextItemLoss
from h2rec.models.sequence import SequenceModel


def SASRec(n_items: int, cfg: BackboneConfig, loss: NextItemLoss, frozen: np.ndarray | None = None) -> SequenceModel:
    """`frozen`: (I+1,) bool, items whose vectors never get a gradient (absent from training)."""
    return SequenceModel(n_items, HidTable(n_items, cfg.hidden, frozen), make_backbone(cfg), loss)
