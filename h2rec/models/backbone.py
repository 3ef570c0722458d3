"""Sequence backbones: (B, T, d) item vectors + (B, T) padding mask -> (B, T, d) causal states.

A backbone knows nothing about items, so every model (hash IDs, Semantic IDs, H2Rec's fused
streams) passes its embedding sequences through the same code, and a new backbone fits every
model at once. `make_backbone` is the one place a model gets its backbone from.

    SASRecEncoder   Kang & McAuley (2018): causal self-attention blocks, learned positions
    GRU4RecEncoder  Hidasi et al. (2016), as RecBole runs it on sequences: a GRU, no positions
    BERT4RecEncoder Sun et al. (2019): the same blocks attending both ways, trained by cloze

Every backbone is `forward(x, mask, cloze=None)` and carries the `objective` its training
needs: next-item prediction for the causal ones, the cloze task for BERT4Rec (whose `cloze`
positions are real but hidden, and read its learned [MASK] vector instead of `x`).
"""

from __future__ import annotations

import torch
from torch import nn

from h2rec.config import BackboneConfig
from h2rec.models.dropout import Dropout, attention
from h2rec.models.objectives import Cloze, NextItem

INIT_STD = 0.02


class Block(nn.Module):
    """Self-attention then feed-forward, each with a residual; post-LN or pre-LN."""

    def __init__(self, cfg: BackboneConfig):
        super().__init__()
        if cfg.hidden % cfg.heads:
            raise ValueError(f"backbone.hidden ({cfg.hidden}) must be divisible by backbone.heads ({cfg.heads})")
        self.heads, self.norm_first, self.attn_dropout = cfg.heads, cfg.norm_first, cfg.attn_dropout
        self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden)
        self.proj = nn.Linear(cfg.hidden, cfg.hidden)
        self.ff = nn.Sequential(
            nn.Linear(cfg.hidden, cfg.ffn),
            nn.GELU() if cfg.activation == "gelu" else nn.ReLU(),
            Dropout(cfg.dropout),
            nn.Linear(cfg.ffn, cfg.hidden),
        )
        self.ln_attn, self.ln_ff = nn.LayerNorm(cfg.hidden), nn.LayerNorm(cfg.hidden)
        self.drop = Dropout(cfg.dropout)

    def attention(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        p = self.attn_dropout if self.training else 0.0
        y = attention(q, k, v, allowed[:, None], p)
        return self.drop(self.proj(y.transpose(1, 2).reshape(B, T, d)))

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        if self.norm_first:
            x = x + self.attention(self.ln_attn(x), allowed)
            return x + self.drop(self.ff(self.ln_ff(x)))
        x = self.ln_attn(x + self.attention(x, allowed))
        return self.ln_ff(x + self.drop(self.ff(x)))


class SASRecEncoder(nn.Module):
    """(B, T, d) embeddings + (B, T) mask -> (B, T, d) causal hidden states.

    Positions count from the first real item of each row, so left and right padding, and any
    amount of padding, give the same states at real positions.
    """

    objective = NextItem()

    def __init__(self, cfg: BackboneConfig, positions: int | None = None):
        super().__init__()
        self.max_len = positions or cfg.max_len
        self.pos = nn.Embedding(self.max_len, cfg.hidden)
        self.ln_in = nn.LayerNorm(cfg.hidden)
        self.drop = Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        # Pre-LN leaves the residual stream unnormalised; normalise once at the end instead.
        self.ln_out = nn.LayerNorm(cfg.hidden) if cfg.norm_first else nn.Identity()
        self.norm_first = cfg.norm_first

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cloze: torch.Tensor | None = None) -> torch.Tensor:
        positions = (mask.long().cumsum(1) - 1).clamp(0, self.max_len - 1)
        x = x + self.pos(positions)
        x = self.drop(x if self.norm_first else self.ln_in(x))
        allowed = self.allowed(mask)
        for block in self.blocks:
            x = block(x, allowed)
        return self.ln_out(x)

    def allowed(self, mask: torch.Tensor) -> torch.Tensor:
        return attention_mask(mask)


class BERT4RecEncoder(SASRecEncoder):
    """(B, T, d) + (B, T) mask + (B, T) cloze -> (B, T, d) states, every real position seeing
    every other; hidden (cloze) positions read a learned [MASK] vector instead of their input.
    One position more than max_len: the slot appended after a history at inference."""

    def __init__(self, cfg: BackboneConfig):
        super().__init__(cfg, positions=cfg.max_len + 1)
        self.objective = Cloze(cfg.mask_prob)
        self.mask_vector = nn.Parameter(torch.zeros(cfg.hidden))
        nn.init.normal_(self.mask_vector, std=INIT_STD)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cloze: torch.Tensor | None = None) -> torch.Tensor:
        if cloze is not None:
            x = torch.where(cloze[..., None], self.mask_vector.to(x.dtype), x)
        return super().forward(x, mask)

    def allowed(self, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, T): every real key, both directions (and itself, so padding rows are not empty)."""
        eye = torch.eye(mask.shape[1], dtype=torch.bool, device=mask.device)
        return mask[:, None, :] | eye[None]


def attention_mask(mask: torch.Tensor) -> torch.Tensor:
    """(B, T, T) True where query t may attend key s: s <= t and s is real.

    Every position may also attend itself, so a padding query never has an empty softmax
    (which would give NaN); real queries never see padding, so this changes nothing real.
    """
    T = mask.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=mask.device).tril()
    eye = torch.eye(T, dtype=torch.bool, device=mask.device)
    return (causal[None] & mask[:, None, :]) | eye[None]


def init_weights(module: nn.Module) -> None:
    """Small normal init (as in BERT-style recommenders); LayerNorm starts as identity."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=INIT_STD)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()


class GRU4RecEncoder(nn.Module):
    """(B, T, d) embeddings + (B, T) mask -> (B, T, d) causal hidden states of a GRU.

    The GRU reads each row's real items only, in order, whatever side the padding is on: rows
    are packed to their real items first (a stable sort that moves padding to the end), run
    as a packed sequence, and scattered back; padding positions get zeros.
    """

    objective = NextItem()

    def __init__(self, cfg: BackboneConfig):
        super().__init__()
        self.drop = Dropout(cfg.dropout)
        self.gru = nn.GRU(
            cfg.hidden, cfg.hidden, num_layers=cfg.layers, dropout=cfg.dropout if cfg.layers > 1 else 0.0, batch_first=True
        )
        self.out = nn.Linear(cfg.hidden, cfg.hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cloze: torch.Tensor | None = None) -> torch.Tensor:
        B, T, d = x.shape
        order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # (B, T): real positions first
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed_in = torch.gather(self.drop(x), 1, order[..., None].expand(B, T, d))
        packed = nn.utils.rnn.pack_padded_sequence(packed_in, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.gru(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=T)
        y = self.out(y) * mask.gather(1, order)[..., None]  # zeros where padding was packed
        return torch.zeros_like(y).scatter(1, order[..., None].expand(B, T, d), y)


BACKBONES = {"sasrec": SASRecEncoder, "gru4rec": GRU4RecEncoder, "bert4rec": BERT4RecEncoder}


def make_backbone(cfg: BackboneConfig) -> nn.Module:
    """The sequence encoder the `train.backbone` section describes (`kind`)."""
    return BACKBONES[cfg.kind](cfg)
