"""How H2Rec's two views of a history meet before the backbone (params `train.h2rec.interaction`).

Inputs at every position t (all attention is causal and never reads padding):
    H       (B, T, d)       the HID sequence (None for a SID-only model)
    levels  L x (B, T, d)   the SID level sequences S_1..S_L, coarse to fine
    gate    (B, T, L)       the level weights a_t of `LevelGate` (None for `SumOfViews`)
Output: the streams the backbone encodes, [H~, S~] (or [S~] without H, [H + S] for the sum).

    CrossAttend   serial (ours): A_l = LN(S_l + CrossAttn(S_l -> H)) per level; S~ = sum_l a_l A_l;
                  H~ = LN(H + CrossAttn(H -> S~)): the HID stream reads the fused SID stream
    ParallelCrossAttend   the method's routing, both paths side by side, no residual, no LN:
                  H~ = sum_l a_l CrossAttn(S_l -> H)     (the gated SID->HID mix feeds the HID branch)
                  S~ = CrossAttn(H -> mean_l S_l)        (HID->SID over the plain level mean feeds the SID branch)
    SideBySide    S~ = sum_l a_l S_l; H~ = H (no cross-attention)
    SumOfViews    one stream H + pool(S_1..S_L): the naive SID+HID sum

Each also says how an item's two vectors are combined for scoring (`combine`): concatenated,
except for the sum; and the scale of the streams it emits (`stream_scale`: the RMS of their
entries at initialisation), so the backbone's positions can start at the same scale.
"""

from __future__ import annotations

import torch
from torch import nn

from h2rec.config import BackboneConfig, H2RecConfig
from h2rec.models.backbone import attention_mask
from h2rec.models.dropout import Dropout, attention
from h2rec.models.items import pool_levels


class CrossAttention(nn.Module):
    """Queries from one sequence attend to keys/values of another; then residual + LayerNorm,
    or (`residual=False`) the attention output alone, which replaces the query sequence."""

    def __init__(self, cfg: BackboneConfig, heads: int | None = None, residual: bool = True):
        super().__init__()
        d = cfg.hidden
        self.heads, self.attn_dropout, self.residual = heads or cfg.heads, cfg.attn_dropout, residual
        if d % self.heads:
            raise ValueError(f"backbone.hidden ({d}) must be divisible by train.h2rec.cross_heads ({self.heads})")
        self.q, self.kv, self.proj = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
        self.drop = Dropout(cfg.dropout)
        self.ln = nn.LayerNorm(d) if residual else None

    def reset_scale(self) -> None:
        """Xavier-uniform projections and zero biases (nn.MultiheadAttention's initialisation):
        the output keeps the scale of the values, so without the LayerNorm the stream stays at
        the item vectors' scale instead of shrinking by the 0.02 of every small-normal layer."""
        for lin in (self.q, self.kv, self.proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, query: torch.Tensor, source: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        B, T, d = query.shape
        q = self.q(query).view(B, T, self.heads, d // self.heads).transpose(1, 2)  # (B, heads, T, d/heads)
        # (B, T, 2d) -> (2, B, heads, T, d/heads): keys and values split in one view
        k, v = self.kv(source).view(B, T, 2, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        p = self.attn_dropout if self.training else 0.0
        y = self.drop(self.proj(attention(q, k, v, allowed[:, None], p).transpose(1, 2).reshape(B, T, d)))
        return self.ln(query + y) if self.residual else y


class LevelGate(nn.Module):
    """(B, T, L) mixing weights over SID levels at every position.

    a_t = softmax(MLP([x_t; mean(x_1..x_t); prior]) + prior), with x the HID sequence (or the
    pooled SID sequence of a SID-only model). The running mean makes it causal, so a user's
    gate is the one at their true last item whatever the padding. The prior falls linearly
    from `prior_coarse` (coarsest level) to `prior_fine`; `gate: prior` drops the MLP,
    `gate: mean` mixes the levels equally.
    """

    def __init__(self, d: int, levels: int, cfg: H2RecConfig):
        super().__init__()
        prior = torch.linspace(cfg.prior_coarse, cfg.prior_fine, levels) if levels > 1 else torch.tensor([cfg.prior_coarse])
        self.register_buffer("prior", prior, persistent=False)
        self.mode = cfg.gate
        self.mlp = None
        if cfg.gate == "learned":
            self.mlp = nn.Sequential(nn.Linear(2 * d + levels, cfg.gate_hidden), nn.GELU(), nn.Linear(cfg.gate_hidden, levels))

    def start_at_prior(self) -> None:
        """Zero the last layer so training starts from softmax(prior)."""
        if self.mlp is not None:
            nn.init.zeros_(self.mlp[-1].weight)
            nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        L = len(self.prior)
        if self.mode == "mean":
            return x.new_full((B, T, L), 1.0 / L)
        logits = self.prior.expand(B, T, L)
        if self.mlp is not None:
            m = mask[..., None].to(x.dtype)  # padding is left out of the running mean
            running = (x * m).cumsum(1) / m.cumsum(1).clamp_min(1.0)
            logits = logits + self.mlp(torch.cat([x, running, logits], dim=-1))
        return logits.softmax(-1)


def mix_levels(gate: torch.Tensor, levels: list[torch.Tensor], pooling: str) -> torch.Tensor:
    """(B, T, L) weights x L level sequences (B, T, d) -> (B, T, d).

    With sum pooling the mix is scaled by L, to the scale of the summed item vectors it is
    scored against.
    """
    mixed = torch.einsum("btl,lbtd->btd", gate, torch.stack(levels))
    return mixed * len(levels) if pooling == "sum" else mixed


class SideBySide(nn.Module):
    stream_scale: float | None = None  # None: the item vectors' scale (no LayerNorm on the way)

    def __init__(self, pooling: str):
        super().__init__()
        self.pooling = pooling

    def init_weights(self) -> None:
        """Called after the model-wide small-normal initialisation; only what differs from it."""

    def forward(self, H, levels, gate, mask) -> list[torch.Tensor]:
        S = mix_levels(gate, levels, self.pooling)
        return [S] if H is None else [H, S]

    def sid_stream(self, H, levels, gate, mask) -> torch.Tensor:
        """S~ alone (the soft L_mask re-encodes only the SID branch): forward(...)[-1], cheaper."""
        return mix_levels(gate, levels, self.pooling)

    def combine(self, hid: torch.Tensor, sid: torch.Tensor) -> torch.Tensor:
        return torch.cat([hid, sid], dim=-1)


class CrossAttend(SideBySide):
    stream_scale = 1.0  # both streams leave through a LayerNorm

    def __init__(self, cfg: BackboneConfig, levels: int, pooling: str, heads: int | None = None):
        super().__init__(pooling)
        self.sid_reads_hid = nn.ModuleList(CrossAttention(cfg, heads) for _ in range(levels))
        self.hid_reads_sid = CrossAttention(cfg, heads)

    def forward(self, H, levels, gate, mask) -> list[torch.Tensor]:
        allowed = attention_mask(mask)
        levels = [ca(s, H, allowed) for ca, s in zip(self.sid_reads_hid, levels)]
        S = mix_levels(gate, levels, self.pooling)
        return [self.hid_reads_sid(H, S, allowed), S]

    def sid_stream(self, H, levels, gate, mask) -> torch.Tensor:
        allowed = attention_mask(mask)
        return mix_levels(gate, [ca(s, H, allowed) for ca, s in zip(self.sid_reads_hid, levels)], self.pooling)


class ParallelCrossAttend(SideBySide):
    def __init__(self, cfg: BackboneConfig, levels: int, pooling: str, heads: int | None = None):
        super().__init__(pooling)
        self.sid_reads_hid = nn.ModuleList(CrossAttention(cfg, heads, residual=False) for _ in range(levels))
        self.hid_reads_sid = CrossAttention(cfg, heads, residual=False)

    def init_weights(self) -> None:
        for ca in [*self.sid_reads_hid, self.hid_reads_sid]:
            ca.reset_scale()

    def forward(self, H, levels, gate, mask) -> list[torch.Tensor]:
        allowed = attention_mask(mask)
        H_mix = mix_levels(gate, [ca(s, H, allowed) for ca, s in zip(self.sid_reads_hid, levels)], "mean")
        return [H_mix, self._hid_reads_levels(H, levels, allowed)]

    def sid_stream(self, H, levels, gate, mask) -> torch.Tensor:
        return self._hid_reads_levels(H, levels, attention_mask(mask))

    def _hid_reads_levels(self, H, levels, allowed: torch.Tensor) -> torch.Tensor:
        S_pooled = pool_levels(levels, self.pooling)  # the plain level mean (the item's SID vector)
        return self.hid_reads_sid(H, S_pooled, allowed)


class SumOfViews(nn.Module):
    stream_scale: float | None = None

    def init_weights(self) -> None:
        pass

    def __init__(self, pooling: str):
        super().__init__()
        self.pooling = pooling

    def forward(self, H, levels, gate, mask) -> list[torch.Tensor]:
        return [H + pool_levels(levels, self.pooling)]

    def combine(self, hid: torch.Tensor, sid: torch.Tensor) -> torch.Tensor:
        return hid + sid
