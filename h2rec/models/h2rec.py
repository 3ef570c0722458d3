"""H2Rec: harmonising Semantic IDs (SID) and hash IDs (HID) in one sequential recommender.

Two views of every item (`items.py`):
    HID branch  e_H(i)   one learned vector per item (collaborative signal; strong on head items)
    SID branch  e_S(i)   mean of its per-level code vectors (shared by similar items; helps the tail)

A history of items i_1..i_T becomes the HID sequence H and, per SID level l (coarse to fine),
the level sequence S_l. Then, at every position t (all attention is causal, never reads padding):

    a_t        = LevelGate(H)_t                         per-user weights over the L levels
    [H~, S~]   = interaction(H, S_1..S_L, a)            `interaction.py`; by default (serial)
                 A_l = LN(S_l + CrossAttn(S_l -> H)),  S~ = sum_l a_l A_l,  H~ = LN(H + CrossAttn(H -> S~));
                 `parallel` (the method's): H~ = sum_l a_l CrossAttn(S_l -> H),  S~ = CrossAttn(H -> mean_l S_l)
    u_H, u_S   = Backbone(H~), Backbone(S~)             one backbone, shared by default

    score(i) = <[u_H; u_S], [e_H(i); e_S(i)]>   (training's full softmax takes <u_S, e_S(i)> as the
                                                 mean (or sum) of u_S's products with i's code vectors: `coded_items`)

Loss = L_rec + lambda_code * L_code + lambda_mask * L_mask (see `alignment.py`):
    L_code  two-way InfoNCE between the SID and HID views of the batch's distinct target items.
    L_mask  the lowest-gated half of the SID levels is replaced by learned mask vectors (one
            per level), the history re-encoded, and masked/unmasked user vectors contrasted
            in-batch: `soft` (the method's) the SID-branch vectors u_S on raw dot products with
            soft targets; `hard` the whole [u_H; u_S] by a cosine InfoNCE with identity targets.

The parts are injected (`make_h2rec` composes them from params `train.h2rec`), so each
ablation is a composition: without the HID branch, `SideBySide` or `SumOfViews` instead of
`CrossAttend`, no gate, separate backbones, a loss weight of 0. Items never seen in training
keep their initial HID vector (no gradient reaches it), so they are ranked through their SID
codes: new items with text can be recommended. With `cold_hid: sid` their HID part is, at
inference, predicted from their SID vector instead.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from h2rec.config import BackboneConfig, H2RecConfig
from h2rec.data.sequences import Batch
from h2rec.models.alignment import positive_weights, soft_contrastive, two_way_infonce
from h2rec.models.backbone import INIT_STD, init_weights, make_backbone
from h2rec.models.base import DotProductRecommender
from h2rec.models.interaction import CrossAttend, LevelGate, ParallelCrossAttend, SideBySide, SumOfViews
from h2rec.models.items import HidTable, SidEmbedding
from h2rec.models.losses import CodedItems, NextItemLoss
from h2rec.models.sasrec import SASRec


class H2Rec(DotProductRecommender):
    def __init__(
        self,
        n_items: int,
        hid: HidTable | None,
        sid: SidEmbedding,
        gate: LevelGate | None,
        interaction: nn.Module,
        backbone: nn.Module,
        sid_backbone: nn.Module | None,
        cfg: H2RecConfig,
        loss: NextItemLoss,
        cooccurrence: tuple[np.ndarray, np.ndarray] | None = None,
        quantized_levels: int | None = None,
    ):
        super().__init__(n_items, loss)
        self.cfg = cfg
        self.hid, self.sid, self.gate, self.interaction = hid, sid, gate, interaction
        self.backbone, self.sid_backbone = backbone, sid_backbone  # sid_backbone None: shared
        self.levels = sid.n_levels
        self.quantized_levels = quantized_levels or self.levels  # a trailing dedup level is not part of the SID tuple
        self._set_tuple_ids()
        self.code_loss_on = hid is not None and cfg.lambda_code > 0
        self.mask_loss_on = gate is not None and cfg.lambda_mask > 0
        self.d = d = sid.levels[0].embedding_dim
        self.mask_vectors = nn.Parameter(torch.zeros(self.levels, d)) if self.mask_loss_on else None  # (L, d)
        self.n_masked = max(1, int(self.levels * cfg.mask_share))

        self.apply(init_weights)
        self.interaction.init_weights()
        if self.mask_vectors is not None:
            nn.init.normal_(self.mask_vectors, std=INIT_STD)
        if self.gate is not None:
            self.gate.start_at_prior()
        if cfg.position_scale == "matched" and self.interaction.stream_scale is not None:
            for encoder in (backbone, sid_backbone):
                if getattr(encoder, "pos", None) is not None:
                    nn.init.normal_(encoder.pos.weight, std=self.interaction.stream_scale)
        self._set_cooccurrence(cooccurrence)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        old = prefix + "mask_vector"  # checkpoints from before per-level mask vectors: one shared vector
        if old in state_dict and self.mask_vectors is not None:
            state_dict[prefix + "mask_vectors"] = state_dict.pop(old).expand(self.levels, -1).clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def sid_embedding(self) -> SidEmbedding:
        return self.sid

    # -- item vectors ------------------------------------------------------------------------
    def hid_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        if self.cfg.cold_hid != "sid" or self.training:
            return self.hid(items)  # items absent from training: detached, never trained
        w = self.hid.table()
        w = torch.where(self.hid.frozen[:, None], self._predicted_hid(w), w)
        return w if items is None else w[items]

    @torch.no_grad()
    def _predicted_hid(self, w: torch.Tensor) -> torch.Tensor:
        """The item's SID vector, rescaled to the median length of the trained HID vectors.

        L_code aligns the directions of the two views of every trained item, so this is the
        HID vector the alignment predicts for an item training never reached.
        """
        scale = w[~self.hid.frozen].norm(dim=-1).median()
        return F.normalize(self.sid_vectors(), dim=-1) * scale

    def sid_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        return self.sid(items)

    def item_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        if self.hid is None:
            return self.sid_vectors(items)
        return self.interaction.combine(self.hid_vectors(items), self.sid_vectors(items))

    def coded_items(self) -> CodedItems | None:
        """[e_H; e_S] as the HID table and each item's rows in the stacked code tables, when the
        two views are concatenated and e_S is a mean or sum of code vectors: the full softmax
        then scores the SID half per code (`losses.CodedSoftmaxCE`) instead of through a
        catalogue-wide product as deep as the SID vectors."""
        concatenated = type(self.interaction).combine is SideBySide.combine
        if self.hid is None or self.sid.pooling not in ("mean", "sum") or not concatenated:
            return None
        sizes = [emb.num_embeddings for emb in self.sid.levels]
        offsets = torch.tensor([0, *sizes[:-1]], device=self.sid.codes.device).cumsum(0)
        return CodedItems(
            hid=self.hid_vectors(None),
            codes=self.sid.codes + offsets,  # (I+1, L) rows of the stacked tables
            code_vectors=torch.cat([emb.weight for emb in self.sid.levels]),
            pooling=self.sid.pooling,
        )

    # -- sequences ---------------------------------------------------------------------------
    def sequence_states(self, batch: Batch) -> torch.Tensor:
        return self._encode(batch)[0]

    def encode_sequences(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self._encode(batch)  # the gate is reused by L_mask

    def _encode(
        self, batch: Batch, masked: torch.Tensor | None = None, gate: torch.Tensor | None = None, sid_only: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T, D) states and the (B, T, L) gate; `masked` (B, L) replaces those levels.

        `sid_only`: encode the SID stream alone, (B, T, d) = u_S (what the soft L_mask contrasts).
        """
        items, mask = batch.items, batch.mask
        H = self.hid_vectors(items) if self.hid is not None else None  # (B, T, d)
        levels = self.sid.level_vectors(items)  # L x (B, T, d)
        if masked is not None:
            levels = [torch.where(masked[:, l, None, None], self.mask_vectors[l], s) for l, s in enumerate(levels)]
        if gate is None and self.gate is not None:
            gate = self.gate(H if H is not None else self.sid.pool(levels), mask)
        if sid_only:
            return (self.sid_backbone or self.backbone)(self.interaction.sid_stream(H, levels, gate, mask), mask), gate
        streams = self.interaction(H, levels, gate, mask)
        return self._encode_streams(streams, mask, batch.extras.get("cloze")), gate

    @property
    def objective(self):
        return self.backbone.objective

    def _encode_streams(self, streams: list[torch.Tensor], mask: torch.Tensor, cloze: torch.Tensor | None = None) -> torch.Tensor:
        """[H~, S~] -> (B, T, 2d) = [u_H; u_S] (or one stream -> (B, T, d)); `cloze`: hidden positions (BERT4Rec)."""
        if len(streams) == 1:
            return self.backbone(streams[0], mask, cloze)
        if self.sid_backbone is None:  # shared: both streams in one call, stacked on the batch axis
            both = None if cloze is None else torch.cat([cloze, cloze])
            u_h, u_s = self.backbone(torch.cat(streams), torch.cat([mask, mask]), both).chunk(2)
        else:
            u_h, u_s = self.backbone(streams[0], mask, cloze), self.sid_backbone(streams[1], mask, cloze)
        return torch.cat([u_h, u_s], dim=-1)

    def user_gate(self, batch: Batch) -> torch.Tensor:
        """(B, L) each user's level weights, read at their last real item."""
        items = batch.items
        base = self.hid_vectors(items) if self.hid is not None else self.sid.pool(self.sid.level_vectors(items))
        return self.gate(base, batch.mask)[torch.arange(len(items), device=items.device), batch.last]

    # -- auxiliary losses ----------------------------------------------------------------------
    def extra_losses(self, batch: Batch, states: torch.Tensor, gate: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = {}
        if self.code_loss_on:
            out["code"] = self.cfg.lambda_code * self.code_loss(batch.targets)
        if self.mask_loss_on:
            gate = gate if gate is not None else self._encode(batch)[1]
            out["mask"] = self.cfg.lambda_mask * self.mask_loss(batch, states, gate)
        return out

    def code_loss(self, targets: torch.Tensor) -> torch.Tensor:
        """L_code over the distinct target items (at most `code_max_items`, drawn at random)."""
        items = targets[targets != 0].unique()
        if len(items) > self.cfg.code_max_items:
            items = items[torch.randperm(len(items), device=items.device)[: self.cfg.code_max_items]]
        groups = self.tuple_id[items] if self.cfg.code_same_tuple else None
        w = positive_weights(items, groups, self.cooc_neighbours, self.cooc_weights, self.n_items)
        return two_way_infonce(self.sid_vectors(items), self.hid_vectors(items), w, self.cfg.code_temperature)

    def lowest_gated(self, user_gate: torch.Tensor) -> torch.Tensor:
        """(R, L) gate -> (R, L) bool: each user's `n_masked` lowest-weighted levels, the ones L_mask masks.

        Ties (the `mean` gate) are broken towards masking the finer levels first.
        """
        order = (user_gate - 1e-6 * torch.arange(self.levels, device=user_gate.device)).argsort(dim=1)
        return torch.zeros_like(user_gate, dtype=torch.bool).scatter_(1, order[:, : self.n_masked], True)

    def mask_loss(self, batch: Batch, states: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """L_mask: mask each user's lowest-gated levels, re-encode, contrast with the original.

        Only `mask_users` users of the batch (drawn at random; 0 = all) are re-encoded: the
        second pass is the costly part, and a few dozen in-batch negatives suffice. `soft`
        re-encodes the SID stream only and contrasts u_S (the last d entries of the state).
        """
        device = batch.items.device
        rows = torch.arange(len(batch.items), device=device)
        if 0 < self.cfg.mask_users < len(rows):
            rows = rows[torch.randperm(len(rows), device=device)[: self.cfg.mask_users]].sort().values
        # (R, T), with the rows' model inputs (BERT4Rec's cloze flags: without them a hidden
        # position would read as padding in the masked pass only)
        sub = Batch(
            batch.items[rows],
            batch.users[rows],
            batch.lengths[rows],
            batch.padding,
            extras={k: v[rows] for k, v in batch.extras.items()},
        )
        masked = self.lowest_gated(gate[rows, batch.last[rows]].detach())  # (R, L), from each user's gate at their last item
        soft, detach = self.cfg.mask_loss == "soft", self.cfg.mask_detach
        # same gate: only the masked levels change
        same_gate = gate[rows].detach() if detach else gate[rows]
        masked_states, _ = self._encode(sub, masked, same_gate, sid_only=soft)  # (R, T, d) soft, (R, T, D) hard
        u = states[rows, batch.last[rows]]  # (R, D) user vectors, unmasked
        u = u.detach() if detach else u
        u_masked = masked_states[torch.arange(len(rows), device=device), sub.last]
        if soft:
            return soft_contrastive(u_masked, u[:, -self.d :], self.cfg.mask_temperature)
        return two_way_infonce(u_masked, u, torch.eye(len(rows), device=device), self.cfg.mask_temperature)

    # -- positives of L_code, and catalogue growth --------------------------------------------------
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
        _, ids = torch.unique(self.sid.codes[:, : self.quantized_levels], dim=0, return_inverse=True)
        self.register_buffer("tuple_id", ids, persistent=False)

    @torch.no_grad()
    def add_items(self, codes: np.ndarray, hid_vectors: np.ndarray | None = None) -> torch.Tensor:
        """Append new items (SID `codes` (n, L), e.g. from `h2rec tokenize --items`); returns their ids.

        Their HID vectors are `hid_vectors` or zero, and are frozen: until the model is trained
        on them they are ranked by their SID codes.
        """
        n = self.sid.add_items(codes)
        device = self.sid.codes.device
        ids = torch.arange(self.n_items + 1, self.n_items + 1 + n, device=device)
        self._set_tuple_ids()
        if self.hid is not None:
            d = self.hid.weight.shape[1]
            extra = (
                torch.zeros(n, d, device=device)
                if hid_vectors is None
                else torch.as_tensor(hid_vectors, dtype=torch.float32, device=device)
            )
            self.hid.add_items(extra)
        if self.cooc_neighbours is not None:  # new items have no co-occurrence neighbours yet
            self.cooc_neighbours = torch.cat(
                [self.cooc_neighbours, self.cooc_neighbours.new_zeros(n, self.cooc_neighbours.shape[1])]
            )
            self.cooc_weights = torch.cat([self.cooc_weights, self.cooc_weights.new_zeros(n, self.cooc_weights.shape[1])])
        self.n_items += n
        return ids


def make_h2rec(
    n_items: int,
    codes: np.ndarray,
    cardinalities: list[int],
    backbone: BackboneConfig,
    cfg: H2RecConfig,
    loss: NextItemLoss,
    pooling: str = "mean",
    train_count: np.ndarray | None = None,
    cooccurrence: tuple[np.ndarray, np.ndarray] | None = None,
    quantized_levels: int | None = None,
) -> DotProductRecommender:
    """Compose H2Rec's parts as `cfg` says; `branches: hid` is exactly SASRec.

    `train_count` (I+1,): items with none keep their initial HID vector (`freeze_cold_hid`).
    The parts are built in a fixed order, so a seed gives the same initial weights.
    """
    d, L = backbone.hidden, len(cardinalities)
    frozen = np.asarray(train_count) == 0 if train_count is not None and cfg.freeze_cold_hid else None
    if cfg.branches == "hid":
        return SASRec(n_items, backbone, loss, frozen)
    hid = HidTable(n_items, d, frozen) if cfg.branches == "both" else None
    sid = SidEmbedding(codes, cardinalities, d, pooling)
    kind = cfg.interaction if hid is not None else "none"  # without HID there is nothing to attend to
    gate = LevelGate(d, L, cfg) if kind != "sum" else None
    if kind == "cross":
        interaction = CrossAttend(backbone, L, pooling, cfg.cross_heads)
    elif kind == "parallel":
        interaction = ParallelCrossAttend(backbone, L, pooling, cfg.cross_heads)
    elif kind == "none":
        interaction = SideBySide(pooling)
    else:
        interaction = SumOfViews(pooling)
    two_streams = hid is not None and kind != "sum"
    encoder = make_backbone(backbone)
    sid_encoder = make_backbone(backbone) if two_streams and not cfg.shared_backbone else None
    return H2Rec(n_items, hid, sid, gate, interaction, encoder, sid_encoder, cfg, loss, cooccurrence, quantized_levels)
