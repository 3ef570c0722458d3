"""Dropout and attention with dropout, cheap on the CPU.

`nn.Dropout` and the dropout inside `F.scaled_dot_product_attention` draw their masks with
`bernoulli_`, which on the CPU costs about three times as much as drawing uniform noise and
comparing it with p; drawing one float per element (`rand_like`) still costs a generator call
per element. Here each element gets 16 random bits instead: one 64-bit draw (`randint` over
the full int64 range, the same global generator the trainer seeds) is read as four int16
draws, and an element is kept when its draw is at or above a threshold. So the keep
probability is 1 - p rounded to a multiple of 2^-16 (within 2^-17 of it), and kept values are
scaled by the inverse of that exact probability, so in float32 the output's expectation is the
input (the float draws of `rand_like` round p too, to 2^-24). The mask is built as one float
tensor (0 or the scale), so the forward and the backward are one multiplication each: on the
tensors of a default step about half the time of float noise (`bench/bench_mfu.py dropout`).
Only on the CPU: on a GPU (or any other device) torch's fused kernels are used as they are.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LEVELS = 1 << 16  # values an int16 draw takes


def keep_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """A tensor shaped like `x`: 1 / keep with probability keep, else 0; keep = 1 - p to 2^-16."""
    dropped = round(p * LEVELS)  # draws below -2^15 + dropped are dropped
    n = x.numel()
    bits = torch.randint(-(1 << 63), (1 << 63) - 1, ((n + 3) // 4,), dtype=torch.int64, device=x.device)
    draws = bits.view(torch.int16)[:n].view(x.shape)  # (n,) uniform over [-2^15, 2^15)
    return (draws >= dropped - LEVELS // 2).to(x.dtype).mul_(LEVELS / (LEVELS - dropped))


def check_probability(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    return p


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    check_probability(p)
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or round(p * LEVELS) >= LEVELS:
        return F.dropout(x, p, training=True)
    return x * keep_mask(x, p)


class Dropout(nn.Module):
    """Drop-in for `nn.Dropout` built on `dropout` above."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = check_probability(p)  # refused when built, not at the first training step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor, p: float) -> torch.Tensor:
    """Scaled dot-product attention, (B, H, T, dh) each; `allowed` broadcasts to (B, H, T, T).

    Without dropout (evaluation, or p = 0) this is torch's fused kernel; with dropout on the CPU
    it is written out so the attention map's dropout uses the cheap mask.
    """
    if p == 0.0 or q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    weights = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
    return dropout(weights, p) @ v
