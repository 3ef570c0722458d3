"""A sequence model composed of two parts: an item representation read by a backbone.

    states = backbone(items(history), mask)          (B, T, d)
    score(u, i) = <state, items(i)>                  input and output vectors tied

With `HidTable` this is SASRec, with `SidEmbedding` SID-SASRec; any backbone of
`backbone.py` fits either (`registry.py` composes them from params `train`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from h2rec.data.sequences import Batch
from h2rec.errors import DataError
from h2rec.models.backbone import init_weights
from h2rec.models.base import DotProductRecommender
from h2rec.models.items import SidEmbedding
from h2rec.models.losses import NextItemLoss


class SequenceModel(DotProductRecommender):
    def __init__(self, n_items: int, items: nn.Module, backbone: nn.Module, loss: NextItemLoss):
        super().__init__(n_items, loss)
        self.items = items
        self.backbone = backbone
        self.apply(init_weights)

    def item_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        return self.items(items)

    @property
    def objective(self):
        return self.backbone.objective

    def sequence_states(self, batch: Batch) -> torch.Tensor:
        return self.backbone(self.items(batch.items), batch.mask, batch.extras.get("cloze"))

    @property
    def sid_embedding(self) -> SidEmbedding | None:
        return self.items if isinstance(self.items, SidEmbedding) else None

    @torch.no_grad()
    def add_items(self, codes: np.ndarray) -> torch.Tensor:
        """Append unseen items by their SID codes (n, L); they are scored through them at once."""
        if self.sid_embedding is None:
            raise DataError("this model scores items by hash ID only: it cannot rank new items")
        n = self.sid_embedding.add_items(codes)
        ids = torch.arange(self.n_items + 1, self.n_items + 1 + n, device=self.sid_embedding.codes.device)
        self.n_items += n
        return ids
