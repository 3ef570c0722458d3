"""Next-item losses over the hidden states of the real (non-padding) positions only.

Every loss takes `h` (N, d): one user state per training position, `targets` (N,) item ids
in 1..I, and `item_vectors(ids)`: the model's item vectors for an id tensor, or for the whole
catalogue 0..I when given None. Negatives come from torch's global generator, which the
trainer seeds, so a run is reproducible.

Logit adjustment (ours, `train.logit_adjustment` = tau > 0; Menon et al., "Long-tail learning
via logit adjustment", ICLR 2021): the full softmax trains on logits + tau * log(prior_i),
prior = the items' training frequencies, while scoring uses the plain logits. A popular item
gets part of its training logit for free, so the learned scores need not carry its
popularity: at inference the tail is no longer outranked by popularity alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

ItemVectors = Callable[[torch.Tensor | None], torch.Tensor]
LossKind = Literal["ce", "bce", "sampled_softmax"]


CE_CHUNK = 256  # positions per logits block: (256 x I) floats stay in cache for I ~ 10^4


@dataclass(frozen=True)
class CodedItems:
    """Item vectors [e_H(i); pool_l code_vectors[codes[i, l]]] kept as their parts (H2Rec's).

    The SID half of every item is a mean (or sum) of L rows of a small table, so the full
    softmax can score it per code and gather, without the (I, d) table of pooled vectors
    (`CodedSoftmaxCE`). Row 0 of `hid` and `codes` is the padding item.
    """

    hid: torch.Tensor  # (I+1, d_h)
    codes: torch.Tensor  # (I+1, L) rows of code_vectors
    code_vectors: torch.Tensor  # (R, d_s) every level's code vectors, stacked
    pooling: Literal["mean", "sum"]


def full_softmax(
    h: torch.Tensor,
    targets: torch.Tensor,
    item_vectors: ItemVectors,
    bias: torch.Tensor | None = None,
    coded: CodedItems | None = None,
) -> torch.Tensor:
    """Cross-entropy over the whole catalogue (the padding item 0 is not a class); `bias` (I,)
    is added to every row of logits (logit adjustment). With `coded`, the same loss scored
    through the item vectors' parts while training."""
    if (
        coded is not None
        and torch.is_grad_enabled()
        and (h.requires_grad or coded.hid.requires_grad or coded.code_vectors.requires_grad)
    ):
        return CodedSoftmaxCE.apply(
            h, coded.hid[1:], coded.code_vectors, coded.codes[1:], targets - 1, CE_CHUNK, bias, coded.pooling
        )
    table = item_vectors(None)[1:]
    if not (h.requires_grad or table.requires_grad):
        logits = h @ table.T
        return F.cross_entropy(logits if bias is None else logits + bias, targets - 1)
    return ChunkedSoftmaxCE.apply(h, table, targets - 1, CE_CHUNK, bias)


def softmax_minus_onehot_(
    logits: torch.Tensor, at: tuple[torch.Tensor, torch.Tensor], dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One block of logits, classes along `dim`, targets at the index pair `at`: (summed
    cross-entropy, softmax - onehot). The gradient is written into `logits` itself: no second
    block-sized buffer."""
    target_logit = logits[at]
    top = logits.amax(dim, keepdim=True)
    e = logits.sub_(top).exp_()
    z = e.sum(dim, keepdim=True)
    loss = (top + z.log()).squeeze(dim).sub(target_logit).sum()
    grad = e.div_(z)
    grad[at] -= 1.0
    return loss, grad


def scaled_saved_gradients(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The backward of a loss whose input gradients its forward already saved, summed over
    `ctx.n` positions: each scaled to the mean and by the upstream gradient."""
    scale = grad_out / max(ctx.n, 1)
    return tuple(g * scale for g in ctx.saved_tensors)


class ChunkedSoftmaxCE(torch.autograd.Function):
    """Mean softmax cross-entropy of h @ table.T, computed block by block of positions.

    The (N, I) logits are the largest tensor of a training step. Here they never exist at
    once: each (chunk, I) block is turned into softmax - onehot in place, and the gradients
    for h and table are accumulated right away (the loss is a leaf of the graph, so they can
    be computed in the forward pass and only scaled in the backward). Same values as
    `F.cross_entropy(h @ table.T, targets)`, about 1.5x faster on CPU and far less memory.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)  # logits in fp32 under bf16 autocast
    def forward(
        ctx, h: torch.Tensor, table: torch.Tensor, targets: torch.Tensor, chunk: int, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        grad_h, grad_table = torch.empty_like(h), torch.zeros_like(table)
        total = torch.zeros((), dtype=torch.float64, device=h.device)
        for s in range(0, len(h), chunk):
            hs, ts = h[s : s + chunk], targets[s : s + chunk]
            rows = torch.arange(len(ts), device=h.device)
            logits = hs @ table.T if bias is None else torch.addmm(bias, hs, table.T)
            loss, grad = softmax_minus_onehot_(logits, (rows, ts), 1)
            total += loss.double()
            torch.mm(grad, table, out=grad_h[s : s + chunk])
            grad_table.addmm_(grad.T, hs)
        ctx.save_for_backward(grad_h, grad_table)
        ctx.n = len(h)
        return (total / max(len(h), 1)).to(h.dtype)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad_out: torch.Tensor):
        return (*scaled_saved_gradients(ctx, grad_out), None, None, None)


class CodedSoftmaxCE(torch.autograd.Function):
    """`ChunkedSoftmaxCE` of h = [h_H; h_S] against [hid; pooled code vectors], the SID half
    scored per code.

    <h_S, mean_l C[c_l(i)]> = mean_l (C @ h_S)[c_l(i)]: one (R, chunk) product scores every
    code vector, and `embedding_bag` gathers and pools each item's L scores, instead of a
    d_s-deep product over the catalogue (the costliest part of H2Rec's step: its item vectors
    are twice SASRec's width). The logits' gradient goes back per code with `index_add_`. The
    blocks hold items on rows, (I, chunk), the layout `embedding_bag` writes.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(
        ctx,
        h: torch.Tensor,
        hid: torch.Tensor,
        code_vectors: torch.Tensor,
        codes: torch.Tensor,
        targets: torch.Tensor,
        chunk: int,
        bias: torch.Tensor | None,
        pooling: str,
    ) -> torch.Tensor:
        d_h, n_levels = hid.shape[1], codes.shape[1]
        weight = 1.0 / n_levels if pooling == "mean" else 1.0
        grad_h, grad_hid, grad_codes = torch.empty_like(h), torch.zeros_like(hid), torch.zeros_like(code_vectors)
        total = torch.zeros((), dtype=torch.float64, device=h.device)
        for s in range(0, len(h), chunk):
            hs, ts = h[s : s + chunk], targets[s : s + chunk]
            h_hid, h_sid = hs[:, :d_h], hs[:, d_h:]
            cols = torch.arange(len(ts), device=h.device)
            per_code = code_vectors @ h_sid.T  # (R, n): every code vector against every state
            logits = F.embedding_bag(codes, per_code, mode=pooling)  # (I, n), the SID half
            logits.addmm_(hid, h_hid.T)  # ... plus the HID half
            if bias is not None:
                logits.add_(bias[:, None])
            loss, grad = softmax_minus_onehot_(logits, (ts, cols), 0)  # softmax over the items of each column
            total += loss.double()
            grad_per_code = per_code.zero_()  # (R, n), reused: each item's gradient, summed per code
            # (index_add_ uses atomic adds on CUDA: GPU reruns differ at float rounding)
            for level in range(n_levels):
                grad_per_code.index_add_(0, codes[:, level], grad, alpha=weight)
            grad_h[s : s + chunk, :d_h] = grad.T @ hid
            grad_h[s : s + chunk, d_h:] = grad_per_code.T @ code_vectors
            grad_hid.addmm_(grad, h_hid)
            grad_codes.addmm_(grad_per_code, h_sid)
        ctx.save_for_backward(grad_h, grad_hid, grad_codes)
        ctx.n = len(h)
        return (total / max(len(h), 1)).to(h.dtype)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad_out: torch.Tensor):
        return (*scaled_saved_gradients(ctx, grad_out), None, None, None, None, None)


def bce_sampled(h: torch.Tensor, targets: torch.Tensor, item_vectors: ItemVectors, n_items: int, n_neg: int) -> torch.Tensor:
    """SASRec's loss: -log s(pos) - sum over n_neg uniform negatives of log(1 - s(neg)).

    A negative that happens to be the target is dropped rather than pushed down.
    """
    neg = torch.randint(1, n_items + 1, (len(targets), n_neg), device=targets.device)
    pos_logit = (h * item_vectors(targets)).sum(-1)
    neg_logit = torch.einsum("nd,nkd->nk", h, item_vectors(neg))
    keep = (neg != targets[:, None]).float()
    per_position = F.softplus(-pos_logit) + (F.softplus(neg_logit) * keep).sum(-1)
    return per_position.mean()


# Per-position negatives score through the whole catalogue while it is at most this many times
# the negatives: one (N, I) matmul and a gather beat gathering (N, K, d) item vectors, whose
# backward is a slow scatter (12k items, 256 negatives, width 256, 1000 positions: 0.66 s
# against 1.4 s a step on one CPU thread).
CATALOGUE_ROUTE = 64


def sampled_softmax(
    h: torch.Tensor, targets: torch.Tensor, item_vectors: ItemVectors, n_items: int, n_neg: int, shared: bool = False
) -> torch.Tensor:
    """Softmax over the target and n_neg uniform negatives: fresh ones for every position (the
    published sampled-softmax SASRec), or with `shared` one set for the whole batch (a cheaper,
    weaker estimate: each step pushes down only n_neg items).

    Sampling is uniform, so the log-Q correction is a constant and drops out; accidental hits
    (a negative equal to the target) are masked.
    """
    if shared:
        neg = torch.randint(1, n_items + 1, (n_neg,), device=targets.device)
        return _sampled_ce(h, targets, neg, item_vectors, route="shared")
    neg = torch.randint(1, n_items + 1, (len(targets), n_neg), device=targets.device)
    return _sampled_ce(h, targets, neg, item_vectors, route="catalogue" if n_items <= CATALOGUE_ROUTE * n_neg else "gather")


def _sampled_ce(h: torch.Tensor, targets: torch.Tensor, neg: torch.Tensor, item_vectors: ItemVectors, route: str) -> torch.Tensor:
    """Cross-entropy of the target against negatives: `neg` (K,) shared by every position with
    route "shared", else (N, K), one row per position (the "catalogue" and "gather" routes
    compute the same logits)."""
    pos_logit = (h * item_vectors(targets)).sum(-1, keepdim=True)  # (N, 1)
    if route == "shared":
        neg_logit = h @ item_vectors(neg).T  # (N, K)
        neg = neg[None, :]
    elif route == "catalogue":
        neg_logit = (h @ item_vectors(None).T).gather(1, neg)  # (N, I + 1) -> (N, K)
    else:
        neg_logit = torch.einsum("nd,nkd->nk", h, item_vectors(neg))  # (N, K) from (N, K, d) vectors
    logits = torch.cat([pos_logit, neg_logit.masked_fill(neg == targets[:, None], float("-inf"))], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long, device=targets.device))


class NextItemLoss:
    """The loss selected in params (`train.loss`), bound to its options.

    `log_prior` (I,): log training frequency of items 1..I, with `logit_adjustment` > 0 (ce only).
    """

    def __init__(
        self,
        kind: LossKind,
        n_items: int,
        bce_negatives: int = 1,
        softmax_negatives: int = 1024,
        logit_adjustment: float = 0.0,
        log_prior: torch.Tensor | None = None,
        softmax_sampling: Literal["position", "batch"] = "position",
    ):
        self.kind, self.n_items = kind, n_items
        self.bce_negatives, self.softmax_negatives = bce_negatives, softmax_negatives
        self.shared_negatives = softmax_sampling == "batch"
        if logit_adjustment > 0 and (kind != "ce" or log_prior is None):
            raise ValueError("logit adjustment needs train.loss ce and the items' training counts")
        self.bias = logit_adjustment * log_prior if logit_adjustment > 0 else None  # (I,)

    def __call__(
        self,
        h: torch.Tensor,
        targets: torch.Tensor,
        item_vectors: ItemVectors,
        coded_items: Callable[[], CodedItems | None] | None = None,
    ) -> torch.Tensor:
        """`coded_items`: the model's item vectors as parts, if it has them (the full softmax only)."""
        if self.kind == "ce":
            bias = None if self.bias is None else self.bias.to(device=h.device, dtype=h.dtype)
            return full_softmax(h, targets, item_vectors, bias, coded_items() if coded_items else None)
        if self.kind == "bce":
            return bce_sampled(h, targets, item_vectors, self.n_items, self.bce_negatives)
        if self.kind == "sampled_softmax":
            return sampled_softmax(h, targets, item_vectors, self.n_items, self.softmax_negatives, self.shared_negatives)
        raise ValueError(f"unknown loss {self.kind!r}")


def log_prior(train_count, smoothing: float = 1.0) -> torch.Tensor:
    """(I,) log of the items' smoothed training frequencies, from counts (I+1,) with 0 = padding."""
    counts = torch.as_tensor(train_count[1:], dtype=torch.float32) + smoothing
    return (counts / counts.sum()).log()
