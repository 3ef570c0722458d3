"""Item-representation parts: how an item id becomes a vector.

    HidTable      hash ID: one learned vector per item (collaborative signal; strong on head items)
    SidEmbedding  Semantic ID: the pooled vectors of the item's L codes, one table per level;
                  items that share codes share parameters, so an item never seen in training
                  still gets a meaningful vector from its codes (helps the tail, cold start)

Both map ids of any shape (...) to vectors (..., d), or the whole catalogue 0..I for None;
row 0 is the padding item. A model composes one or both with a backbone (`sequence.py`,
`h2rec.py`). Both can start from text: the HID table from a PCA of the item text embeddings,
the code tables from a PCA of the quantizer's codebooks (`pca_project`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from h2rec.errors import DataError
from h2rec.models.backbone import INIT_STD


class HidTable(nn.Module):
    """One vector per item. Rows flagged `frozen` (items absent from training) get no gradient."""

    def __init__(self, n_items: int, d: int, frozen: np.ndarray | None = None):
        super().__init__()
        self.emb = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.has_frozen = frozen is not None
        rows = np.zeros(n_items + 1, bool) if frozen is None else np.asarray(frozen, bool)
        self.register_buffer("frozen", torch.as_tensor(rows, dtype=torch.bool))

    @property
    def weight(self) -> torch.Tensor:
        return self.emb.weight

    def table(self) -> torch.Tensor:
        """(I+1, d) every item's vector; frozen rows are detached."""
        w = self.emb.weight
        return torch.where(self.frozen[:, None], w.detach(), w) if self.has_frozen else w

    def forward(self, items: torch.Tensor | None = None) -> torch.Tensor:
        if items is None:
            return self.table()
        w = self.emb(items)  # gathered first: detaching the whole table for a few rows costs a step ~1 ms a call
        return torch.where(self.frozen[items, None], w.detach(), w) if self.has_frozen else w

    @torch.no_grad()
    def pin_frozen(self) -> Callable[[], None]:
        """A function that puts the frozen rows back to their values as of now. An optimizer's
        decoupled weight decay (AdamW) shrinks every row of a table, with a gradient or not;
        the trainer calls it after each step."""
        rows = self.frozen.nonzero().squeeze(1)
        values = self.emb.weight[rows].clone()

        def restore() -> None:
            with torch.no_grad():
                self.emb.weight[rows] = values

        return restore

    @torch.no_grad()
    def init_from_text(self, text_embeddings: np.ndarray, whiten: bool = False) -> None:
        """Rows 1..I from a PCA of the (I, dim) item text embeddings (`pca_project`)."""
        if len(text_embeddings) != self.emb.num_embeddings - 1:
            raise DataError(f"{len(text_embeddings)} text embeddings for a catalogue of {self.emb.num_embeddings - 1} items")
        self.emb.weight[1:] = torch.as_tensor(
            pca_project([text_embeddings], self.emb.embedding_dim, whiten)[0], device=self.emb.weight.device
        )

    @torch.no_grad()
    def add_items(self, vectors: torch.Tensor) -> None:
        """Append (n, d) rows for new items; they are frozen (no training has seen them)."""
        table = nn.Embedding(
            len(self.frozen) + len(vectors), self.emb.embedding_dim, padding_idx=0, device=self.emb.weight.device
        )
        table.weight.copy_(torch.cat([self.emb.weight, vectors.to(self.emb.weight)]))
        self.emb = table
        self.frozen = torch.cat([self.frozen, torch.ones(len(vectors), dtype=torch.bool, device=self.frozen.device)])
        self.has_frozen = True


def pool_levels(levels: list[torch.Tensor], pooling: str) -> torch.Tensor:
    """Mean or sum of L level vectors (..., d) -> (..., d)."""
    total = torch.stack(levels).sum(0)
    return total / len(levels) if pooling == "mean" else total


class SidEmbedding(nn.Module):
    """An item's SID vector: its L code vectors (one table per level), pooled.

    `codes` (I+1, L) holds the codes of item i in row i (row 0, padding, is -1); they are
    stored shifted by one so that row 0 of every level table is the padding vector.
    Pooling: mean (default), sum, or concat followed by a linear map.
    """

    def __init__(self, codes: np.ndarray, cardinalities: list[int], d: int, pooling: str = "mean"):
        super().__init__()
        self.register_buffer("codes", torch.as_tensor(codes, dtype=torch.long) + 1)
        self.pooling = pooling
        self.levels = nn.ModuleList(nn.Embedding(k + 1, d, padding_idx=0) for k in cardinalities)
        self.fuse = nn.Linear(len(cardinalities) * d, d) if pooling == "concat" else None

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def level_vectors(self, items: torch.Tensor | None = None) -> list[torch.Tensor]:
        """L tensors (..., d): each level's code vector of every item."""
        codes = self.codes if items is None else self.codes[items]
        return [emb(codes[..., l]) for l, emb in enumerate(self.levels)]

    def pool(self, levels: list[torch.Tensor], codes: torch.Tensor | None = None) -> torch.Tensor:
        if self.fuse is None:
            return pool_levels(levels, self.pooling)
        real = (codes[..., :1] > 0).to(levels[0].dtype)
        return self.fuse(torch.cat(levels, dim=-1)) * real  # keep padding at zero

    def forward(self, items: torch.Tensor | None = None) -> torch.Tensor:
        codes = self.codes if items is None else self.codes[items]
        return self.pool(self.level_vectors(items), codes)

    @torch.no_grad()
    def init_from_codebooks(self, codebooks: list[np.ndarray]) -> None:
        """Code vectors from the quantizer's codebooks; a dedup level (no codebook) stays random."""
        d = self.levels[0].embedding_dim
        for emb, vectors in zip(self.levels, pca_project(codebooks, d)):
            if vectors.shape[0] != emb.num_embeddings - 1:
                raise DataError(f"codebook of {vectors.shape[0]} codes for a SID level of {emb.num_embeddings - 1}")
            emb.weight[1:] = torch.as_tensor(vectors, device=emb.weight.device)

    @torch.no_grad()
    def add_items(self, codes: np.ndarray) -> int:
        """Append new items by their codes (n, L), e.g. from `h2rec tokenize --items`; returns n."""
        codes_t = (
            torch.from_numpy(np.array(codes, dtype=np.int64)).to(self.codes.device) + 1
        )  # a copy: the input may be read-only
        if codes_t.ndim != 2 or codes_t.shape[1] != self.n_levels:
            raise DataError(f"new items need codes of shape (n, {self.n_levels}), got {tuple(codes_t.shape)}")
        for l, emb in enumerate(self.levels):
            if (codes_t[:, l] < 1).any() or (codes_t[:, l] >= emb.num_embeddings).any():
                raise DataError(f"new items: code_{l} outside [0, {emb.num_embeddings - 1})")
        self.codes = torch.cat([self.codes, codes_t])
        return len(codes_t)


def pca_project(matrices: list[np.ndarray], d: int, whiten: bool = False) -> list[np.ndarray]:
    """Project every (K, dim) matrix on the top-d principal axes of all of them together.

    Fitted on all levels at once so the levels stay in one space; rescaled to the usual
    initial spread (INIT_STD), padded with zeros when there are fewer than d components.
    `whiten`: every axis rescaled to the same spread first, so the few leading directions of
    a text embedding no longer carry most of the initial dot products.
    """
    stacked = np.concatenate(matrices).astype(np.float64)
    centred = stacked - stacked.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:d].T
    if axes.shape[1] < d:
        axes = np.pad(axes, ((0, 0), (0, d - axes.shape[1])))
    z = centred @ axes
    if whiten:
        spread = z.std(0)
        z = np.divide(z, spread, out=np.zeros_like(z), where=spread > 1e-12)  # padded axes stay 0
    z *= INIT_STD / max(z.std(), 1e-12)
    splits = np.cumsum([len(m) for m in matrices])[:-1]
    return [part.astype(np.float32) for part in np.split(z, splits)]
