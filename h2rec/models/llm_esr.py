"""LLM-ESR (Liu et al., NeurIPS 2024): a frozen text view and an ID view of each item, fused
by cross-attention, one shared backbone, concatenated scoring, and retrieval-augmented
self-distillation for long-tail users.

    e_sem(i) = Adapter(text(i))                 text(i) frozen: the item's sentence embedding
    e_col(i) = HID(i)                           initialised from a PCA of text(i)
    S~ = LN(S + CrossAttn(S -> C)),  C~ = LN(C + CrossAttn(C -> S))      (causal, per position)
    u = [Backbone(C~); Backbone(S~)]            (B, T, 2d), one backbone for both views
    score(u, i) = <u, [e_col(i); e_sem(i)]>
    L = L_rec + alpha * mean_u mean_j (u_last - mean_{v in N(u)} u_last(v))_j^2      (MSE over the 2d elements)

N(u): the `neighbours` users whose text profile (the mean text embedding of their training
items) is closest in cosine to u's; the teacher is the model itself on those users, without
gradient, so a user with few items borrows the representation of users like them. The
neighbours are found once, when the model is built, from the training items only. The
distance is the mean squared error over the state's 2d elements, as in the method. Summed
over them it is 2d times larger: on Scientific at alpha 0.1 it started at 13.9 against a
recommendation loss of 8.2 and still equalled it after 60 steps, pulling every user towards
their neighbours' mean, and the run's best validation epoch was its first.

Deviations from the authors' code: the recommendation loss is `train.loss`, as for every
model here (full-softmax CE by default; theirs is BCE with one sampled negative); each
cross-attention keeps a residual + LayerNorm with `backbone.heads` heads (theirs replaces
each view by the attention output, with 2 heads); the adapter has a GELU and dropout between
its two linear maps (theirs is two linear maps).

Teacher states are computed for every user at once, at the first step of each epoch, from
the weights the epoch starts with (our deviation: recomputing the neighbours' histories in
every step cost 17x a SASRec step on Scientific, because mean-text profiles of long histories
sit near the centre and are everyone's neighbours, so each step re-encoded hundreds of
full-length histories). They are computed in evaluation mode (no dropout). Tying them to the epoch
rather than to a count of users makes a resumed run repeat an uninterrupted one: `last.pt`
holds the weights they are computed from.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from h2rec.config import BackboneConfig
from h2rec.data.sequences import Batch
from h2rec.models.backbone import attention_mask, init_weights, make_backbone
from h2rec.models.base import DotProductRecommender
from h2rec.models.interaction import CrossAttention
from h2rec.models.items import HidTable
from h2rec.models.losses import NextItemLoss

TEACHER_CHUNK = 256  # neighbour histories per teacher forward pass


class TextAdapter(nn.Module):
    """(I+1, D) frozen text embeddings (row 0 = padding) -> (..., d) item vectors by a 2-layer MLP."""

    def __init__(self, text: np.ndarray, d: int, dropout: float):
        super().__init__()
        table = np.concatenate([np.zeros((1, text.shape[1]), np.float32), np.asarray(text, np.float32)])
        self.register_buffer("text", torch.as_tensor(table))
        hidden = (text.shape[1] + d) // 2
        self.mlp = nn.Sequential(nn.Linear(text.shape[1], hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d))

    def forward(self, items: torch.Tensor | None = None) -> torch.Tensor:
        x = self.text if items is None else self.text[items]
        return self.mlp(x) * (x.abs().sum(-1, keepdim=True) > 0)  # padding stays zero


def user_neighbours(data, text: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """(U, k) the users whose mean text embedding of training items is closest (cosine), self excluded."""
    n_train = data.n_train
    starts = data.offsets[:-1]
    rows = np.repeat(np.arange(data.n_users), n_train)
    within = np.arange(n_train.sum()) - np.repeat(np.cumsum(n_train) - n_train, n_train)
    items = data.flat[np.repeat(starts, n_train) + within]  # every user's training items, in order
    profile = np.zeros((data.n_users, text.shape[1]), np.float32)
    np.add.at(profile, rows, text[items - 1])
    profile /= np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)
    p = torch.from_numpy(profile)
    k = min(k, data.n_users - 1)
    out = np.zeros((data.n_users, max(k, 0)), np.int64)
    for s in range(0, data.n_users, chunk):
        sim = p[s : s + chunk] @ p.T  # (chunk, U)
        sim[torch.arange(len(sim)), torch.arange(s, s + len(sim))] = -2.0  # never oneself
        out[s : s + chunk] = sim.topk(k, dim=1).indices.numpy()
    return out


class LLMESR(DotProductRecommender):
    def __init__(
        self,
        n_items: int,
        text: np.ndarray,
        cfg: BackboneConfig,
        loss: NextItemLoss,
        neighbours: np.ndarray,
        data,
        alpha: float,
        max_len: int,
        padding: str,
    ):
        super().__init__(n_items, loss)
        d = cfg.hidden
        self.col = HidTable(n_items, d)
        self.sem = TextAdapter(text, d, cfg.dropout)
        self.sem_to_col, self.col_to_sem = CrossAttention(cfg), CrossAttention(cfg)
        self.backbone = make_backbone(cfg)
        self.apply(init_weights)
        self.col.init_from_text(text)  # after the generic init: the ID view starts from the text PCA
        self.register_buffer("neighbours", torch.as_tensor(neighbours), persistent=False)
        self.alpha, self.data, self.max_len, self.padding = alpha, data, max_len, padding
        self._teacher: torch.Tensor | None = None  # (U, 2d) cached teacher states, renewed each epoch

    @property
    def objective(self):
        return self.backbone.objective

    def item_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        return torch.cat([self.col(items), self.sem(items)], dim=-1)  # (..., 2d)

    def sequence_states(self, batch: Batch) -> torch.Tensor:
        mask, cloze = batch.mask, batch.extras.get("cloze")
        C, S = self.col(batch.items), self.sem(batch.items)  # (B, T, d) each
        allowed = attention_mask(mask)
        S2, C2 = self.sem_to_col(S, C, allowed), self.col_to_sem(C, S, allowed)
        u_c, u_s = self.backbone(
            torch.cat([C2, S2]), torch.cat([mask, mask]), None if cloze is None else torch.cat([cloze, cloze])
        ).chunk(2)
        return torch.cat([u_c, u_s], dim=-1)  # (B, T, 2d)

    def extra_losses(self, batch: Batch, states: torch.Tensor, context=None) -> dict[str, torch.Tensor]:
        if self.alpha <= 0 or self.neighbours.shape[1] == 0:
            return {}
        rows = torch.arange(len(states), device=states.device)
        student = states[rows, batch.last]  # (B, 2d) the users' states after their last training input
        if self._teacher is None:
            self._teacher = self.teacher_states()
        teacher = self._teacher[self.neighbours[batch.users]].mean(1)  # (B, k, 2d) -> (B, 2d)
        return {"distill": self.alpha * (student - teacher).pow(2).mean()}  # MSE over users and the 2d elements

    def begin_epoch(self) -> None:
        self._teacher = None  # recomputed at the epoch's first step

    @torch.no_grad()
    def teacher_states(self) -> torch.Tensor:
        """(U, 2d) every user's state after their training history, in evaluation mode."""
        was_training = self.training
        self.eval()
        try:
            return self.last_states(np.arange(self.data.n_users))
        finally:
            self.train(was_training)

    def last_states(self, users: np.ndarray, chunk: int = TEACHER_CHUNK) -> torch.Tensor:
        """(N, 2d) the states of `users` after their training history, in chunks of similar length.

        A batch is as wide as its longest history: random neighbours in one batch would pad
        most rows to max_len, so they are sorted by length first (same states, far less work).
        """
        lengths = np.minimum(self.data.n_train[users], self.max_len)
        order = np.argsort(lengths, kind="stable")
        out = None
        for s in range(0, len(users), chunk):
            rows = order[s : s + chunk]
            part = self.encode(self.data.eval_batch(users[rows], "valid", self.max_len, self.padding).to(self.device))
            out = part.new_empty(len(users), part.shape[1]) if out is None else out
            out[torch.as_tensor(rows, device=part.device)] = part
        return out
