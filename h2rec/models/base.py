"""The interface every recommender follows; the trainer and the evaluator use nothing else.

    calculate_loss(batch) -> (loss, {name: tensor})   total loss to minimise, and named terms to log
    encode(batch)         -> state (B, ...)           the user state at each row's last real item
    score(state, items)   -> (B, C)                   items (C,) shared by all rows, or (B, C) per row
    predict(batch, items) -> (B, C)                   = score(encode(batch), items)
    full_sort_predict(batch) -> (B, I+1)              every item; column 0 (padding) is -inf

The evaluator calls `encode` once per user batch and `score` once per catalogue chunk, so a
model whose `score` only touches the requested items ranks a catalogue of any size in bounded
memory. Items are 1..n_items, 0 is padding.

Most sequence models score by a dot product between a user vector and item vectors; they
subclass `DotProductRecommender` and implement only `sequence_states` and `item_vectors`.
The loss plumbing is then shared: states of the real positions are gathered before the item
matmul, the selected next-item loss is applied, and `extra_losses` may add named terms (already
weighted) that are summed into the total and logged under their names. A model whose extra
losses reuse something its forward pass computed returns it from `encode_sequences` (its
second value is handed to `extra_losses`), so nothing is carried in mutable state.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from h2rec.data.sequences import Batch
from h2rec.models.losses import CodedItems, NextItemLoss
from h2rec.models.objectives import NextItem

NEXT_ITEM = NextItem()


class SequentialRecommender(nn.Module):
    n_items: int

    def calculate_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def encode(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def score(self, state: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, batch: Batch, items: torch.Tensor) -> torch.Tensor:
        return self.score(self.encode(batch), items)

    def full_sort_predict(self, batch: Batch) -> torch.Tensor:
        scores = self.predict(batch, torch.arange(self.n_items + 1, device=batch.items.device))
        scores[:, 0] = float("-inf")
        return scores

    def begin_epoch(self) -> None:
        """Called by the trainer before each training epoch. A model that keeps state across
        steps (LLM-ESR's cached teacher) renews it here, so that the state depends only on the
        weights at the epoch's start, which `last.pt` restores on resume."""

    @property
    def device(self) -> torch.device:
        """Where the model's weights (and so its inputs) live."""
        for t in (*self.parameters(), *self.buffers()):
            return t.device
        return torch.device("cpu")

    @property
    def trainable(self) -> bool:
        """False for models with nothing to fit by gradient (the trainer then skips the loop)."""
        return any(p.requires_grad for p in self.parameters())


class DotProductRecommender(SequentialRecommender):
    """score(u, i) = <user state, item vector>."""

    def __init__(self, n_items: int, loss: NextItemLoss):
        super().__init__()
        self.n_items = n_items
        self.loss = loss

    # -- to implement ----------------------------------------------------------------------
    def sequence_states(self, batch: Batch) -> torch.Tensor:
        """(B, T, d) causal hidden states: position t sees items 0..t of its row only."""
        raise NotImplementedError

    def item_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """(..., d) vectors of the given ids, or of the whole catalogue 0..I for None."""
        raise NotImplementedError

    def encode_sequences(self, batch: Batch) -> tuple[torch.Tensor, Any]:
        """(sequence_states(batch), whatever `extra_losses` needs of this forward pass)."""
        return self.sequence_states(batch), None

    def extra_losses(self, batch: Batch, states: torch.Tensor, context: Any = None) -> dict[str, torch.Tensor]:
        """Named auxiliary loss terms, already weighted; `states, context` = encode_sequences(batch)."""
        return {}

    def coded_items(self) -> CodedItems | None:
        """The catalogue's item vectors as parts the full softmax can score without building
        them (`losses.CodedItems`), or None: a plain table."""
        return None

    # -- shared ------------------------------------------------------------------------------
    @property
    def objective(self):
        """How training batches are turned into targets and where states are read (objectives.py)."""
        return NEXT_ITEM

    def calculate_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        batch = self.objective.train_batch(batch)
        states, context = self.encode_sequences(batch)
        real = batch.targets != 0  # only real positions reach the item matmul
        terms = {"rec": self.loss(states[real], batch.targets[real], self.item_vectors, self.coded_items)}
        terms.update(self.extra_losses(batch, states, context))
        total = torch.stack(list(terms.values())).sum()
        return total, {name: t.detach() for name, t in terms.items()}

    def encode(self, batch: Batch) -> torch.Tensor:
        batch = self.objective.eval_batch(batch)
        states = self.sequence_states(batch)
        return states[torch.arange(len(states), device=states.device), batch.last]

    def score(self, state: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        vectors = self.item_vectors(items)
        if items.dim() == 1:
            return state @ vectors.T
        return torch.einsum("bd,bcd->bc", state, vectors)
