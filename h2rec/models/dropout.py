"""Dropout and attention with dropout, cheap on the CPU.

`nn.Dropout` and the dropout inside `F.scaled_dot_product_attention` draw their masks with
`bernoulli_`, which on the CPU costs about three times as much as drawing uniform noise and
comparing it with p. At p = 0.5 on every hidden state and attention map that was 19% of an H2Rec
training epoch on 2 cores (`bench/bench_mfu.py profile`). The masks here have the same
distribution (each element kept with probability 1 - p, kept values scaled by 1 / (1 - p)), so
the models train the same way. On a GPU the fused kernels are already fast and are used as is.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    if not training or p == 0.0:
        return x
    if x.is_cuda or p >= 1.0:
        return F.dropout(x, p, training=True)
    keep = torch.rand_like(x) >= p
    return x * keep * (1.0 / (1.0 - p))


class Dropout(nn.Module):
    """Drop-in for `nn.Dropout` built on `dropout` above."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor, p: float) -> torch.Tensor:
    """Scaled dot-product attention, (B, H, T, dh) each; `allowed` broadcasts to (B, H, T, T).

    Without dropout (evaluation, or p = 0) this is torch's fused kernel; with dropout on the CPU
    it is written out so the attention map's dropout uses the cheap mask.
    """
    if p == 0.0 or q.is_cuda:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    weights = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
    return dropout(weights, p) @ v
