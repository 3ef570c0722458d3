"""Ranking metrics from 0-based target ranks (rank 0 = the target is the top item).

HR@K = 1 if rank < K; NDCG@K = 1 / log2(rank + 2) if rank < K (one relevant item, so the
ideal DCG is 1). Means over the cases of a group.
"""

from __future__ import annotations

import numpy as np


def hit(ranks: np.ndarray, k: int) -> np.ndarray:
    return (ranks < k).astype(np.float64)


def ndcg(ranks: np.ndarray, k: int) -> np.ndarray:
    return np.where(ranks < k, 1.0 / np.log2(ranks.astype(np.float64) + 2.0), 0.0)


def rank_metrics(ranks: np.ndarray, ks: list[int]) -> dict[str, float]:
    """{"hr_K": ..., "ndcg_K": ...} for each K; NaN for an empty group."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"hr_{k}"] = float(hit(ranks, k).mean()) if len(ranks) else float("nan")
        out[f"ndcg_{k}"] = float(ndcg(ranks, k).mean()) if len(ranks) else float("nan")
    return out


def tail_share(top: np.ndarray, is_head: np.ndarray) -> float:
    """Mean share of tail items in the users' top lists (padding 0 entries ignored)."""
    real = top > 0
    tail = real & ~is_head[top]
    per_user = tail.sum(1) / np.maximum(real.sum(1), 1)
    return float(per_user.mean()) if len(top) else float("nan")


def coverage(top: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's top list."""
    return float(len(np.unique(top[top > 0])) / n_items)


def selection_score(metrics: dict[str, float], weights: dict[str, float]) -> float:
    """train.selection: the weighted mean of validation NDCG@10 (full ranking) over groups."""
    used = {g: w for g, w in weights.items() if w > 0}  # a group at weight 0 needs no metric
    return sum(w * metrics[f"full/{g}/ndcg_10"] for g, w in used.items()) / sum(used.values())


def selection_name(weights: dict[str, float]) -> str:
    """How train.selection reads in a sentence: "NDCG@10", or its weights when it is not overall alone."""
    used = {g: w for g, w in weights.items() if w > 0}
    return "NDCG@10" if set(used) == {"overall"} else "NDCG@10 weighted " + ", ".join(f"{g} {w:g}" for g, w in used.items())
