"""Popularity baseline: every user gets the items ranked by their training interaction count.

Nothing is learned by gradient, so the trainer only saves it. It is the floor any sequence
model must clear, and a check that the evaluator's masking and tie handling are sane (many
items share a count; ties are broken by the evaluator, not by item id).
"""

from __future__ import annotations

import numpy as np
import torch

from h2rec.data.sequences import Batch
from h2rec.models.base import SequentialRecommender


class Popularity(SequentialRecommender):
    def __init__(self, train_count: np.ndarray):
        super().__init__()
        self.n_items = len(train_count) - 1
        self.register_buffer("counts", torch.as_tensor(train_count, dtype=torch.float32))

    def calculate_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        zero = torch.zeros((), device=self.counts.device)
        return zero, {"rec": zero}

    def encode(self, batch: Batch) -> torch.Tensor:
        return torch.ones(len(batch.users), 1, device=self.counts.device)

    def score(self, state: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return state * self.counts[items]  # (B, 1) * (C,) or (B, C) -> (B, C)
