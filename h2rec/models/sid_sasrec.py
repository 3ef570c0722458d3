"""SID-only SASRec: an item is the fusion of its per-level Semantic ID code vectors.

Items that share codes share parameters, so an item never seen in training still gets a
meaningful vector (and a score) from its codes; items with the same full code tuple become
indistinguishable, the price the SID branch pays on head items.

Fusion of the L level vectors: mean (default), sum, or concat followed by a linear projection.
Code vectors may start from the quantizer's codebooks, projected to the hidden size by a PCA
fitted on all levels together (so the levels stay in one space) and rescaled to the usual
initial spread.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from h2rec.errors import DataError
from h2rec.models.base import DotProductRecommender
from h2rec.models.losses import NextItemLoss
from h2rec.models.sasrec import INIT_STD, SASRecEncoder, init_weights
from h2rec.train.config import BackboneConfig, SidModelConfig
from h2rec.train.data import Batch


class SIDSASRec(DotProductRecommender):
    def __init__(
        self,
        n_items: int,
        codes: np.ndarray,
        cardinalities: list[int],
        cfg: BackboneConfig,
        sid_cfg: SidModelConfig,
        loss: NextItemLoss,
        codebooks: list[np.ndarray] | None = None,
    ):
        super().__init__(n_items, loss)
        # Shift codes by one so that row 0 of every level table is the padding vector.
        self.register_buffer("codes", torch.as_tensor(codes, dtype=torch.long) + 1)
        d, self.fusion = cfg.hidden, sid_cfg.fusion
        self.code_emb = nn.ModuleList(nn.Embedding(k + 1, d, padding_idx=0) for k in cardinalities)
        self.fuse = nn.Linear(len(cardinalities) * d, d) if self.fusion == "concat" else None
        self.backbone = SASRecEncoder(cfg)
        self.apply(init_weights)
        if codebooks is not None:
            self._init_from_codebooks(codebooks, d)

    def item_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        codes = self.codes if items is None else self.codes[items]
        levels = [emb(codes[..., l]) for l, emb in enumerate(self.code_emb)]
        if self.fusion == "concat":
            real = (codes[..., :1] > 0).to(levels[0].dtype)
            return self.fuse(torch.cat(levels, dim=-1)) * real  # keep padding at zero
        fused = torch.stack(levels).sum(0)
        return fused / len(levels) if self.fusion == "mean" else fused

    def sequence_states(self, batch: Batch) -> torch.Tensor:
        return self.backbone(self.item_vectors(batch.items), batch.mask)

    @torch.no_grad()
    def add_items(self, codes: np.ndarray) -> torch.Tensor:
        """Append unseen items by their SID codes (n, L); they are scored through them at once."""
        codes_t = torch.as_tensor(np.asarray(codes), dtype=torch.long) + 1
        for l, emb in enumerate(self.code_emb):
            if (codes_t[:, l] < 1).any() or (codes_t[:, l] >= emb.num_embeddings).any():
                raise DataError(f"new items: code_{l} outside [0, {emb.num_embeddings - 1})")
        ids = torch.arange(self.n_items + 1, self.n_items + 1 + len(codes_t))
        self.codes = torch.cat([self.codes, codes_t])
        self.n_items += len(codes_t)
        return ids

    @torch.no_grad()
    def _init_from_codebooks(self, codebooks: list[np.ndarray], d: int) -> None:
        projected = pca_project(codebooks, d)
        for emb, vectors in zip(self.code_emb, projected):  # a dedup level has no codebook
            if vectors.shape[0] != emb.num_embeddings - 1:
                raise ValueError(f"codebook of {vectors.shape[0]} codes for a level of {emb.num_embeddings - 1}")
            emb.weight[1:] = torch.as_tensor(vectors)


def pca_project(codebooks: list[np.ndarray], d: int) -> list[np.ndarray]:
    """Project every level's (K, dim) codebook on the top-d principal axes of all of them."""
    stacked = np.concatenate(codebooks).astype(np.float64)
    centred = stacked - stacked.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:d].T
    if axes.shape[1] < d:  # fewer components than the hidden size: pad with zeros
        axes = np.pad(axes, ((0, 0), (0, d - axes.shape[1])))
    z = centred @ axes
    z *= INIT_STD / max(z.std(), 1e-12)
    splits = np.cumsum([len(c) for c in codebooks])[:-1]
    return [part.astype(np.float32) for part in np.split(z, splits)]
