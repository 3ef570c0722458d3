"""A model whose scores are a fixed (users x items) table: isolates the evaluator from any network."""

from __future__ import annotations

import torch

from h2rec.models.base import SequentialRecommender


class TableModel(SequentialRecommender):
    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = table
        self.n_items = table.shape[1] - 1

    def encode(self, batch):
        return batch.users

    def score(self, state, items):
        if items.dim() == 1:
            return self.table[state][:, items]
        return self.table[state[:, None], items]
