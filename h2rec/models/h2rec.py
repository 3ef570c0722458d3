"""H2Rec: harmonising Semantic IDs (SID) and hash IDs (HID) in one sequential recommender.

Two views of every item:
    HID branch  e_H(i)   one learned vector per item (collaborative signal; strong on head items)
    SID branch  e_S(i)   mean of its per-level code vectors (shared by similar items; helps the tail)

A history of items i_1..i_T becomes the HID sequence H and, per SID level l (coarse to fine),
the level sequence S_l. Then, at every position t (all attention is causal and never reads
padding):

    A_l  = LN(S_l + CrossAttn(query S_l, key/value H))      SID -> HID, one module per level
    a_t  = softmax(MLP([state_t; prior]) + prior)            per-user gate over the L levels
    S~   = sum_l a_l A_l                                      the fused SID sequence
    H~   = LN(H + CrossAttn(query H, key/value S~))          HID -> SID
    u_H  = Backbone(H~),  u_S = Backbone(S~)                 SASRec encoder, shared by default

    score(i) = <[u_H; u_S], [e_H(i); e_S(i)]>

The gate's prior falls linearly from `prior_coarse` (coarsest level) to `prior_fine` (finest).
Its state_t is [H_t; mean(H_1..H_t)]: computed per position, so the gate is causal, and a
user's gate is the one at their true last item whatever the padding.

Loss = L_rec + lambda_item * L_code + lambda_user * L_mask (see `alignment.py`):
    L_code  two-way InfoNCE between the SID and HID views of the batch's distinct target items.
    L_mask  the lowest-gated half of the SID levels is replaced by a learned mask vector, the
            history re-encoded, and masked/unmasked user vectors contrasted in-batch.

Every component is a switch in `H2RecConfig` (ablations without code branches elsewhere).
Items never seen in training keep their initial HID vector (no gradient reaches it), so they
are ranked through their SID codes: new items with text can be recommended. With
`cold_hid: sid` their HID part is, at inference, predicted from their SID vector instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from h2rec import paths
from h2rec.errors import ConfigError, DataError
from h2rec.models.alignment import positive_weights, two_way_infonce
from h2rec.models.base import DotProductRecommender
from h2rec.models.dropout import Dropout, attention
from h2rec.models.h2rec_config import H2RecConfig
from h2rec.models.losses import NextItemLoss
from h2rec.models.registry import make_loss, register
from h2rec.models.sasrec import SASRecEncoder, attention_mask, init_weights
from h2rec.models.sid_sasrec import pca_project
from h2rec.train.config import BackboneConfig, TrainConfig
from h2rec.train.data import Batch, SeqDataset
from h2rec.train.sid_table import SID_DIR, SidTable, load_codebooks


class CrossAttention(nn.Module):
    """Queries from one sequence attend to keys/values of another, then residual + LayerNorm."""

    def __init__(self, cfg: BackboneConfig):
        super().__init__()
        d = cfg.hidden
        self.heads, self.attn_dropout = cfg.heads, cfg.attn_dropout
        self.q, self.kv, self.proj = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
        self.drop, self.ln = Dropout(cfg.dropout), nn.LayerNorm(d)

    def forward(self, query: torch.Tensor, source: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        B, T, d = query.shape
        q = self.q(query).view(B, T, self.heads, d // self.heads).transpose(1, 2)
        k, v = self.kv(source).view(B, T, 2, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        p = self.attn_dropout if self.training else 0.0
        y = attention(q, k, v, allowed[:, None], p)
        return self.ln(query + self.drop(self.proj(y.transpose(1, 2).reshape(B, T, d))))


class LevelGate(nn.Module):
    """(B, T, L) mixing weights over SID levels at every position; see the module note."""

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


class H2Rec(DotProductRecommender):
    def __init__(
        self,
        n_items: int,
        codes: np.ndarray,
        cardinalities: list[int],
        backbone: BackboneConfig,
        cfg: H2RecConfig,
        loss: NextItemLoss,
        train_count: np.ndarray | None = None,
        codebooks: list[np.ndarray] | None = None,
        text_embeddings: np.ndarray | None = None,
        cooccurrence: tuple[np.ndarray, np.ndarray] | None = None,
        quantized_levels: int | None = None,
    ):
        super().__init__(n_items, loss)
        d, L = backbone.hidden, len(cardinalities)
        self.cfg, self.levels = cfg, L
        self.quantized_levels = quantized_levels or L  # a trailing dedup level is not part of the SID tuple
        self.use_hid, self.use_sid = cfg.branches != "sid", cfg.branches != "hid"
        both = self.use_hid and self.use_sid
        self.summed = both and cfg.fusion == "sum"  # naive sum: one sequence of e_H + e_S
        self.cross = both and cfg.fusion == "cross"
        self.two_streams = both and not self.summed
        # Codes shifted by one so that row 0 of every level table is the padding vector.
        self.register_buffer("codes", torch.as_tensor(codes, dtype=torch.long) + 1)
        self._set_tuple_ids()
        # Items without training interactions: their HID vector stays at its initial value.
        cold = np.zeros(n_items + 1, bool) if train_count is None or not cfg.freeze_cold_hid else np.asarray(train_count) == 0
        self.register_buffer("cold", torch.as_tensor(cold, dtype=torch.bool))

        self.hid_emb = nn.Embedding(n_items + 1, d, padding_idx=0) if self.use_hid else None
        self.code_emb = nn.ModuleList(nn.Embedding(k + 1, d, padding_idx=0) for k in cardinalities) if self.use_sid else None
        self.gate = LevelGate(d, L, cfg) if self.use_sid and not self.summed else None
        self.sid_reads_hid = nn.ModuleList(CrossAttention(backbone) for _ in range(L)) if self.cross else None
        self.hid_reads_sid = CrossAttention(backbone) if self.cross else None
        self.backbone = SASRecEncoder(backbone)
        self.sid_backbone = SASRecEncoder(backbone) if self.two_streams and not cfg.shared_backbone else None
        self.code_loss_on = both and cfg.lambda_item > 0
        self.mask_loss_on = self.gate is not None and cfg.lambda_user > 0
        self.mask_vector = nn.Parameter(torch.zeros(d)) if self.mask_loss_on else None
        self.n_masked = max(1, int(L * cfg.mask_share))

        self.apply(init_weights)
        if self.mask_vector is not None:
            nn.init.normal_(self.mask_vector, std=0.02)
        if self.gate is not None:
            self.gate.start_at_prior()
        if codebooks is not None and self.use_sid:
            self._init_levels(codebooks, d)
        if text_embeddings is not None and self.use_hid:
            self._init_hid(text_embeddings, d)
        self._set_cooccurrence(cooccurrence)
        self._stash: tuple[Batch, torch.Tensor] | None = None  # (batch, gate) of the last training forward

    # -- item vectors ------------------------------------------------------------------------
    def hid_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        w = self.hid_emb.weight
        w = torch.where(self.cold[:, None], self._cold_hid(w), w)
        return w if items is None else w[items]

    def _cold_hid(self, w: torch.Tensor) -> torch.Tensor:
        """HID vectors of items absent from training, never trained (no gradient reaches them).

        `init`: the initial vector. `sid` (at inference): the item's SID vector, rescaled to the
        median length of the trained HID vectors; L_code aligns the directions of the two views
        of every trained item, so this is the HID vector the alignment predicts.
        """
        if self.cfg.cold_hid == "init" or self.training or self.code_emb is None:
            return w.detach()
        with torch.no_grad():
            scale = w[~self.cold].norm(dim=-1).median()
            return F.normalize(self.sid_vectors(), dim=-1) * scale

    def level_vectors(self, items: torch.Tensor | None = None) -> list[torch.Tensor]:
        codes = self.codes if items is None else self.codes[items]
        return [emb(codes[..., l]) for l, emb in enumerate(self.code_emb)]

    def sid_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        return self._combine(self.level_vectors(items))

    def _combine(self, levels: list[torch.Tensor]) -> torch.Tensor:
        total = torch.stack(levels).sum(0)
        return total / len(levels) if self.cfg.level_fusion == "mean" else total

    def item_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        if not self.use_sid:
            return self.hid_vectors(items)
        if not self.use_hid:
            return self.sid_vectors(items)
        if self.summed:
            return self.hid_vectors(items) + self.sid_vectors(items)
        return torch.cat([self.hid_vectors(items), self.sid_vectors(items)], dim=-1)

    # -- sequences ---------------------------------------------------------------------------
    def sequence_states(self, batch: Batch) -> torch.Tensor:
        states, gate = self._encode(batch)
        self._stash = (batch, gate) if self.training and gate is not None else None
        return states

    def _encode(
        self, batch: Batch, masked: torch.Tensor | None = None, gate: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T, D) states and the (B, T, L) gate; `masked` (B, L) replaces those levels."""
        items, mask = batch.items, batch.mask
        H = self.hid_vectors(items) if self.use_hid else None
        if not self.use_sid:
            return self.backbone(H, mask), None
        levels = self.level_vectors(items)
        if masked is not None:
            levels = [torch.where(masked[:, l, None, None], self.mask_vector, s) for l, s in enumerate(levels)]
        if self.summed:
            return self.backbone(H + self._combine(levels), mask), None
        if gate is None:
            gate = self.gate(H if self.use_hid else self._combine(levels), mask)
        allowed = attention_mask(mask)
        if self.cross:
            levels = [ca(s, H, allowed) for ca, s in zip(self.sid_reads_hid, levels)]
        S = torch.einsum("btl,lbtd->btd", gate, torch.stack(levels))
        if self.cfg.level_fusion == "sum":
            S = S * self.levels  # same scale as the summed output vectors
        if not self.use_hid:
            return self.backbone(S, mask), gate
        if self.cross:
            H = self.hid_reads_sid(H, S, allowed)
        if self.sid_backbone is None:  # shared: both streams in one call
            u = self.backbone(torch.cat([H, S]), torch.cat([mask, mask]))
            u_h, u_s = u.chunk(2)
        else:
            u_h, u_s = self.backbone(H, mask), self.sid_backbone(S, mask)
        return torch.cat([u_h, u_s], dim=-1), gate

    def user_gate(self, batch: Batch) -> torch.Tensor:
        """(B, L) each user's level weights, read at their last real item."""
        items = batch.items
        base = self.hid_vectors(items) if self.use_hid else self._combine(self.level_vectors(items))
        return self.gate(base, batch.mask)[torch.arange(len(items)), batch.last]

    # -- auxiliary losses ----------------------------------------------------------------------
    def extra_losses(self, batch: Batch, states: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        if self.code_loss_on:
            out["code"] = self.cfg.lambda_item * self.code_loss(batch.targets)
        if self.mask_loss_on:
            stash, self._stash = self._stash, None
            gate = stash[1] if stash is not None and stash[0] is batch else self._encode(batch)[1]
            out["mask"] = self.cfg.lambda_user * self.mask_loss(batch, states, gate)
        return out

    def code_loss(self, targets: torch.Tensor) -> torch.Tensor:
        """L_code over the distinct target items (at most `code_max_items`, drawn at random)."""
        items = targets[targets != 0].unique()
        if len(items) > self.cfg.code_max_items:
            items = items[torch.randperm(len(items))[: self.cfg.code_max_items]]
        groups = self.tuple_id[items] if self.cfg.code_same_tuple else None
        w = positive_weights(items, groups, self.cooc_neighbours, self.cooc_weights, self.n_items)
        return two_way_infonce(self.sid_vectors(items), self.hid_vectors(items), w, self.cfg.code_temperature)

    def mask_loss(self, batch: Batch, states: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """L_mask: mask each user's lowest-gated levels, re-encode, contrast with the original.

        Only `mask_users` users of the batch (drawn at random; 0 = all) are re-encoded: the
        second pass is the costly part, and a few dozen in-batch negatives suffice.
        """
        rows = torch.arange(len(batch.items))
        if 0 < self.cfg.mask_users < len(rows):
            rows = rows[torch.randperm(len(rows))[: self.cfg.mask_users]].sort().values
        sub = Batch(batch.items[rows], batch.users[rows], batch.lengths[rows], batch.padding)
        user_gate = gate[rows, batch.last[rows]].detach()
        # Ties (the `mean` gate) are broken towards masking the finer levels first.
        order = (user_gate - 1e-6 * torch.arange(self.levels)).argsort(dim=1)
        masked = torch.zeros_like(user_gate, dtype=torch.bool).scatter_(1, order[:, : self.n_masked], True)
        masked_states, _ = self._encode(sub, masked, gate[rows])
        u = states[rows, batch.last[rows]]
        u_masked = masked_states[torch.arange(len(rows)), sub.last]
        return two_way_infonce(u_masked, u, torch.eye(len(rows)), self.cfg.mask_temperature)

    # -- initialisation and catalogue growth ---------------------------------------------------
    @torch.no_grad()
    def _init_levels(self, codebooks: list[np.ndarray], d: int) -> None:
        for emb, vectors in zip(self.code_emb, pca_project(codebooks, d)):  # a dedup level keeps its random init
            if vectors.shape[0] != emb.num_embeddings - 1:
                raise DataError(f"codebook of {vectors.shape[0]} codes for a SID level of {emb.num_embeddings - 1}")
            emb.weight[1:] = torch.as_tensor(vectors)

    @torch.no_grad()
    def _init_hid(self, text_embeddings: np.ndarray, d: int) -> None:
        if len(text_embeddings) != self.n_items:
            raise DataError(f"{len(text_embeddings)} text embeddings for a catalogue of {self.n_items} items")
        self.hid_emb.weight[1:] = torch.as_tensor(pca_project([text_embeddings], d)[0])

    def _set_cooccurrence(self, cooccurrence: tuple[np.ndarray, np.ndarray] | None) -> None:
        nb = w = None
        if cooccurrence is not None and self.cfg.code_cooccurrence > 0:
            neighbours, ppmi = cooccurrence
            nb = torch.as_tensor(neighbours, dtype=torch.long)
            ppmi = torch.as_tensor(ppmi, dtype=torch.float32)
            w = self.cfg.code_cooccurrence * ppmi / ppmi.max(1, keepdim=True).values.clamp_min(1e-12)
        self.register_buffer("cooc_neighbours", nb, persistent=False)
        self.register_buffer("cooc_weights", w, persistent=False)

    def _set_tuple_ids(self) -> None:
        """One id per distinct full SID tuple (without a dedup level): same id = same-tuple positives."""
        _, ids = torch.unique(self.codes[:, : self.quantized_levels], dim=0, return_inverse=True)
        self.register_buffer("tuple_id", ids, persistent=False)

    @torch.no_grad()
    def add_items(self, codes: np.ndarray, hid_vectors: np.ndarray | None = None) -> torch.Tensor:
        """Append new items (SID `codes` (n, L), e.g. from `h2rec tokenize --items`); returns their ids.

        Their HID vectors are `hid_vectors` or zero, and are frozen: until the model is trained
        on them they are ranked by their SID codes.
        """
        codes_t = torch.as_tensor(np.asarray(codes), dtype=torch.long) + 1
        if codes_t.ndim != 2 or codes_t.shape[1] != self.codes.shape[1]:
            raise DataError(f"new items need codes of shape (n, {self.codes.shape[1]}), got {tuple(codes_t.shape)}")
        for l, emb in enumerate(self.code_emb or []):
            if (codes_t[:, l] < 1).any() or (codes_t[:, l] >= emb.num_embeddings).any():
                raise DataError(f"new items: code_{l} outside [0, {emb.num_embeddings - 1})")
        n = len(codes_t)
        ids = torch.arange(self.n_items + 1, self.n_items + 1 + n)
        self.codes = torch.cat([self.codes, codes_t])
        self.cold = torch.cat([self.cold, torch.ones(n, dtype=torch.bool)])
        self._set_tuple_ids()
        if self.hid_emb is not None:
            extra = torch.zeros(n, self.hid_emb.embedding_dim) if hid_vectors is None else torch.as_tensor(hid_vectors, dtype=torch.float32)
            table = nn.Embedding(self.n_items + 1 + n, self.hid_emb.embedding_dim, padding_idx=0)
            table.weight.copy_(torch.cat([self.hid_emb.weight, extra]))
            self.hid_emb = table
        if self.cooc_neighbours is not None:  # new items have no co-occurrence neighbours yet
            self.cooc_neighbours = torch.cat([self.cooc_neighbours, torch.zeros(n, self.cooc_neighbours.shape[1], dtype=torch.long)])
            self.cooc_weights = torch.cat([self.cooc_weights, torch.zeros(n, self.cooc_weights.shape[1])])
        self.n_items += n
        return ids


# -- building from the pipeline's files -------------------------------------------------------
def build_h2rec(
    cfg: TrainConfig,
    data: SeqDataset,
    sid: SidTable,
    dedup: bool = False,
    text_embeddings: np.ndarray | None = None,
    cooccurrence: tuple[np.ndarray, np.ndarray] | None = None,
    hc: H2RecConfig | None = None,
) -> H2Rec:
    """H2Rec for a dataset and its SID table; `dedup` says the table's last level is a dedup code.

    `hc` overrides the config's `h2rec` section (benchmarks build variants this way).
    """
    hc = hc or h2rec_section(cfg)
    codes, cards = sid.codes, list(sid.cardinalities)
    if dedup and not hc.dedup_level:
        codes, cards = codes[:, :-1], cards[:-1]
    codebooks = sid.codebooks if hc.sid_init == "codebooks" else None
    if hc.sid_init == "codebooks" and codebooks is None:
        raise ConfigError("train.h2rec.sid_init is 'codebooks' but no codebooks were loaded with the SID table")
    if hc.hid_init == "pca" and text_embeddings is None:
        raise ConfigError("train.h2rec.hid_init is 'pca' but no item text embeddings were given")
    if hc.code_cooccurrence > 0 and cooccurrence is None:
        raise ConfigError("train.h2rec.code_cooccurrence > 0 but no co-occurrence table was given; run `h2rec cooccurrence`")
    return H2Rec(
        data.n_items, codes, cards, cfg.backbone, hc, make_loss(cfg, data.n_items),
        train_count=data.train_count, codebooks=codebooks, text_embeddings=text_embeddings,
        cooccurrence=cooccurrence, quantized_levels=len(cards) - 1 if dedup and hc.dedup_level else None,
    )


def h2rec_section(cfg: TrainConfig) -> H2RecConfig:
    return getattr(cfg, "h2rec", None) or H2RecConfig()


def sid_has_dedup(sid_dir: Path = SID_DIR) -> bool:
    meta = sid_dir / "sid_meta.json"
    return bool(json.loads(meta.read_text()).get("dedup", False)) if meta.exists() else False


@register("h2rec", needs_sid=True)
def _registered(cfg: TrainConfig, data: SeqDataset, sid: SidTable | None) -> H2Rec:
    from h2rec.models.cooccurrence import load_cooccurrence

    assert sid is not None
    hc = h2rec_section(cfg)
    if hc.sid_init == "codebooks" and sid.codebooks is None:
        sid = SidTable(sid.codes, sid.cardinalities, load_codebooks(SID_DIR / "quantizer"))
    text = None
    if hc.hid_init == "pca":
        from h2rec.sid.features import load_embeddings

        text = load_embeddings(paths.ITEM_EMBEDDINGS).vectors
    cooc = load_cooccurrence(paths.COOCCURRENCE, data.n_items) if hc.code_cooccurrence > 0 else None
    return build_h2rec(cfg, data, sid, sid_has_dedup(), text, cooc)
