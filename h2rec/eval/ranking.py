"""The target's rank among candidates, computed in user batches and catalogue chunks.

Full ranking never holds more than (user batch x item chunk) scores: for each chunk it counts
the items that beat the target and merges the chunk's best items into a running top-k, so a
catalogue of 10^6 items costs time, not memory.

Rank = number of candidates that beat the target (0 = the target is first). Candidates are
every catalogue item except padding, the user's history items and the target itself (the
target is kept even when it also occurs in the history). Ties: a score within
TIE_RTOL * (|target score| + mean |score| of the row's first candidates) of the target's is a tie (float rounding
differs between a matmul and a dot product, so two items with the same vector may not get
bit-identical scores), and a tie is broken by a fixed random priority per item. Tied items
are thus ordered at random but reproducibly, rather than always in the target's favour (which
would reward a model that scores every item the same) or always against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from h2rec.data.sequences import Batch
from h2rec.models.base import SequentialRecommender

TIE_RTOL = 1e-5
TIE_SCALE_SAMPLE = 1024  # candidates whose mean |score| sets a row's scale


@dataclass
class Candidates:
    """What a user batch is ranked against."""

    targets: torch.Tensor  # (B,) item ids
    hist_rows: torch.Tensor  # (H,) row in the batch of each history entry
    hist_items: torch.Tensor  # (H,) item id of each history entry (target excluded)

    def to(self, device: torch.device) -> Candidates:
        return Candidates(self.targets.to(device), self.hist_rows.to(device), self.hist_items.to(device))


def tie_tolerance(target_score: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """(B,) how close to the target's score counts as a tie (see the module note)."""
    sample = torch.nan_to_num(scores[:, :TIE_SCALE_SAMPLE], posinf=0.0, neginf=0.0)
    return TIE_RTOL * (target_score.abs() + sample.abs().mean(1))


def beats(
    scores: torch.Tensor, target_score: torch.Tensor, tol: torch.Tensor, prio: torch.Tensor, target_prio: torch.Tensor
) -> torch.Tensor:
    """(B, C) True where a candidate ranks above the target (see the module note on ties)."""
    t, tol = target_score[:, None], tol[:, None]
    above = scores > t + tol
    tied_first = (scores >= t - tol) & (prio < target_prio[:, None])
    return above | tied_first


def count_beating(
    scores: torch.Tensor, target_score: torch.Tensor, tol: torch.Tensor, prio: torch.Tensor, target_prio: torch.Tensor
) -> torch.Tensor:
    """(B,) number of candidates that beat the target: the row sums of `beats`, faster.

    Comparisons are written into a float buffer and summed (summing a bool tensor converts it
    to int64 first, several times slower); the tie rule is only applied to rows with a tie.
    Exact for up to 2^24 candidates per row.
    """
    t, tol_ = target_score[:, None], tol[:, None]
    buf = torch.empty_like(scores)
    above = torch.gt(scores, t + tol_, out=buf).sum(1)
    at_least = torch.ge(scores, t - tol_, out=buf).sum(1)
    count = above.long()
    tied = torch.nonzero(at_least > above).squeeze(1)
    if len(tied):
        tied_beats = beats(scores[tied], target_score[tied], tol[tied], prio, target_prio[tied]).sum(1)
        count[tied] += tied_beats - above[tied].long()
    return count


@torch.no_grad()
def full_ranks(
    model: SequentialRecommender,
    batch: Batch,
    cand: Candidates,
    prio: torch.Tensor,
    n_items: int,
    chunk: int,
    top_k: int = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) ranks over the whole catalogue and (B, top_k) best items (history masked)."""
    state = model.encode(batch)
    B = len(cand.targets)
    t_score = model.score(state, cand.targets[:, None])[:, 0]
    t_prio = prio[cand.targets]
    device = state.device
    ranks = torch.zeros(B, dtype=torch.long, device=device)
    top_v, top_i = torch.empty(B, 0, device=device), torch.empty(B, 0, dtype=torch.long, device=device)
    tol = None
    for start in range(1, n_items + 1, chunk):
        end = min(start + chunk, n_items + 1)
        scores = model.score(state, torch.arange(start, end, device=device)).contiguous()
        if tol is None:
            tol = tie_tolerance(t_score, scores)
        inside = (cand.hist_items >= start) & (cand.hist_items < end)
        scores[cand.hist_rows[inside], cand.hist_items[inside] - start] = float("-inf")
        v, i = torch.topk(scores, min(top_k, end - start), dim=1)  # the target may be listed
        top_v, top_i = _merge_top(top_v, top_i, v, i + start, top_k)
        own = torch.nonzero((cand.targets >= start) & (cand.targets < end)).squeeze(1)
        scores[own, cand.targets[own] - start] = float("-inf")  # never counts against itself
        ranks += count_beating(scores, t_score, tol, prio[start:end], t_prio)
    top_i = top_i.masked_fill(torch.isinf(top_v), 0)  # fewer than k candidates: pad with 0
    # A NaN target score loses every comparison, which would rank it first: rank it last.
    return torch.where(torch.isfinite(t_score), ranks, n_items), top_i


def _merge_top(v1, i1, v2, i2, k):
    v, i = torch.cat([v1, v2], 1), torch.cat([i1, i2], 1)
    best = torch.topk(v, min(k, v.shape[1]), dim=1).indices
    return v.gather(1, best), i.gather(1, best)


@torch.no_grad()
def sampled_ranks(
    model: SequentialRecommender, batch: Batch, targets: torch.Tensor, negatives: torch.Tensor, prio: torch.Tensor
) -> torch.Tensor:
    """(B,) rank of the target among itself and the given (B, n) negatives."""
    state = model.encode(batch)
    scores = model.score(state, torch.cat([targets[:, None], negatives], 1))
    tol = tie_tolerance(scores[:, 0], scores)
    ranks = beats(scores[:, 1:], scores[:, 0], tol, prio[negatives], prio[targets]).sum(1)
    return torch.where(torch.isfinite(scores[:, 0]), ranks, negatives.shape[1])  # a NaN target ranks last
