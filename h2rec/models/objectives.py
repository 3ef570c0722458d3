"""Training objectives: how a next-item training batch becomes what a backbone learns from,
and where a user's state is read at inference. A backbone carries its own (`backbone.py`).

    NextItem   causal backbones: predict item t+1 at every position t (the batch as it is)
    Cloze      BERT4Rec: hide a share of a sequence's items, predict them from both sides;
               at inference a hidden slot is appended after the history and its state read

Both map a `Batch` to a `Batch`, so the models' loss and scoring code stays the same: the
loss reads targets where they are non-zero, the state is read at `batch.last`.
"""

from __future__ import annotations

import torch

from h2rec.data.sequences import Batch


class NextItem:
    def train_batch(self, batch: Batch) -> Batch:
        return batch

    def eval_batch(self, batch: Batch) -> Batch:
        return batch


class Cloze:
    """Items hidden with probability `p` (at least one per sequence); the state of a hidden
    position predicts the item it hides. Hidden positions have item id 0 and are flagged in
    `batch.extras["cloze"]` (so `batch.mask` still counts them as real)."""

    def __init__(self, p: float):
        self.p = p

    @staticmethod
    def _append(batch: Batch, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(items with one more column holding `values` (B,) after each row's last item, the
        (B, T+1) one-hot of that column, lengths + 1)."""
        B, T = batch.items.shape
        items = torch.cat([batch.items, batch.items.new_zeros(B, 1)], dim=1)
        slot = torch.full_like(batch.lengths, T) if batch.padding == "left" else batch.lengths
        rows = torch.arange(B, device=items.device)
        items[rows, slot] = values
        where = torch.zeros_like(items, dtype=torch.bool)
        where[rows, slot] = True
        return items, where, batch.lengths + 1

    def train_batch(self, batch: Batch) -> Batch:
        """Inputs train[:-1] + targets train[1:] -> the whole training sequence, some of it hidden."""
        rows = torch.arange(len(batch.items), device=batch.items.device)
        last_target = batch.targets[rows, batch.last]  # the sequence's final item
        full, _, lengths = self._append(batch, last_target)
        real = full != 0
        hidden = (torch.rand(full.shape, device=full.device) < self.p) & real
        none = ~hidden.any(1)  # a row with nothing hidden hides its last item
        if none.any():
            last = torch.full_like(lengths, full.shape[1] - 1) if batch.padding == "left" else lengths - 1
            hidden[rows[none], last[none]] = True
        extras = {**batch.extras, "cloze": hidden}
        return Batch(full.masked_fill(hidden, 0), batch.users, lengths, batch.padding, full.masked_fill(~hidden, 0), extras)

    def eval_batch(self, batch: Batch) -> Batch:
        """A hidden slot after each history; `batch.last` then points at it."""
        items, slot, lengths = self._append(batch, batch.items.new_zeros(len(batch.items)))
        return Batch(items, batch.users, lengths, batch.padding, None, {**batch.extras, "cloze": slot})
