"""H2Rec's two alignment losses, as plain functions of vectors.

Both are InfoNCE over in-batch candidates on L2-normalised vectors, with possibly several
(weighted) positives per row:

    loss_i = -log( sum_j w_ij exp(s_ij / t) / sum_j exp(s_ij / t) ),   s_ij = cos(a_i, b_j)

With w = identity this is the usual one-positive InfoNCE. Weights lie in [0, 1], so the loss
is never negative; it approaches its minimum when each row's positives score highest.

L_code (item level): a = SID views, b = HID views of the batch's distinct target items;
positives are the item's own other view, items with the same full SID tuple, and optionally
PPMI co-occurrence neighbours (weighted). Computed both ways (SID->HID and HID->SID).
L_mask (user level), `mask_loss: hard`: a = user vectors with some SID levels masked, b =
the unmasked ones; the positive is the same user.

L_mask as in the method (`mask_loss: soft`, `soft_contrastive`): no normalisation and soft
targets. On raw vectors x (masked) and y (unmasked), (N, d),

    logits = x y^T / t,   targets = softmax((x x^T + y y^T) / 2 * t)   (row-wise, no gradient)
    loss   = (CE(logits, targets) + CE(logits^T, targets^T)) / 2

Users whose histories look alike to both views share target mass instead of being pushed
apart. LayerNorm outputs have norm about sqrt(d), so dot products span about +-d: at t = 1
the loss is as sharp as a cosine InfoNCE at temperature 1/d. Its floor is the targets'
entropy, not 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def weighted_infonce(a: torch.Tensor, b: torch.Tensor, weights: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over rows of -log(sum_j w_ij e^{s_ij/t} / sum_j e^{s_ij/t}); a, b (N, d), weights (N, N)."""
    return _infonce_rows(_cosine_logits(a, b, temperature), _log_weights(weights))


def two_way_infonce(a: torch.Tensor, b: torch.Tensor, weights: torch.Tensor, temperature: float) -> torch.Tensor:
    """Average of the a->b and b->a directions (weights transposed for the second).

    cos(b_i, a_j) = cos(a_j, b_i): the second direction reads the first one's logits transposed.
    """
    logits, log_w = _cosine_logits(a, b, temperature), _log_weights(weights)
    return 0.5 * (_infonce_rows(logits, log_w) + _infonce_rows(logits.T, log_w.T))


def _cosine_logits(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature


def _log_weights(weights: torch.Tensor) -> torch.Tensor:
    return torch.where(weights > 0, weights.clamp_min(1e-30).log(), torch.full_like(weights, float("-inf")))


def _infonce_rows(logits: torch.Tensor, log_w: torch.Tensor) -> torch.Tensor:
    return (logits.logsumexp(1) - (logits + log_w).logsumexp(1)).mean()


def soft_targets(x: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """(N, N) row-stochastic targets of `soft_contrastive`: softmax of the mean intra-view similarity."""
    with torch.no_grad():
        return ((x @ x.T + y @ y.T) / 2 * temperature).softmax(-1)


def soft_contrastive(x: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric soft-target cross-entropy between x (N, d) and y (N, d) on raw dot products."""
    logits = x @ y.T / temperature
    targets = soft_targets(x, y, temperature)  # symmetric, so it is also the targets of logits^T
    forward = -(targets * logits.log_softmax(-1)).sum(-1).mean()
    backward = -(targets * logits.T.log_softmax(-1)).sum(-1).mean()
    return 0.5 * (forward + backward)


def positive_weights(
    items: torch.Tensor,
    groups: torch.Tensor | None = None,
    neighbours: torch.Tensor | None = None,
    neighbour_weights: torch.Tensor | None = None,
    n_items: int | None = None,
) -> torch.Tensor:
    """(N, N) positive weights among distinct `items` (N,).

    1 on the diagonal (an item's own other view); 1 where two items share the full SID tuple
    (`groups` (N,): one id per distinct tuple); max(w_ij, w_ji) where j is among i's co-occurrence
    `neighbours` (I+1, k) with `neighbour_weights` (I+1, k) in [0, 1].
    """
    N = len(items)
    w = torch.eye(N, device=items.device)
    if groups is not None:
        w = torch.maximum(w, (groups[:, None] == groups[None, :]).float())
    if neighbours is not None and neighbour_weights is not None:
        size = n_items + 1 if n_items is not None else int(max(items.max(), neighbours.max())) + 1
        where = torch.full((size,), -1, dtype=torch.long, device=items.device)
        where[items] = torch.arange(N, device=items.device)
        cols = where[neighbours[items]]  # (N, k) batch column of each neighbour, -1 if absent
        rows = torch.arange(N, device=items.device)[:, None].expand_as(cols)
        keep = cols >= 0
        cooc = torch.zeros(N, N, device=items.device)
        cooc[rows[keep], cols[keep]] = neighbour_weights[items][keep].float()
        w = torch.maximum(w, torch.maximum(cooc, cooc.T))
    return w
