"""Which evaluation cases belong to which group, and the metric names per group.

A case is one user and one target item. Groups: overall; head / tail by the target item's
training popularity; short / long by the user's training length; bucket0..bucket{n-1} by the
target's popularity bucket (0 = least popular). Keys read `<protocol>/<group>/<metric>`, e.g.
`full/overall/ndcg_10` or `sampled100/tail/hr_10`. A group with no case (no tail target in a
tiny test set) has no metrics, only `<protocol>/<group>/cases: 0`: a mean over nothing is
not a number to compare or plot.
"""

from __future__ import annotations

import numpy as np

from h2rec.data.sequences import SeqDataset
from h2rec.eval.metrics import coverage, rank_metrics, tail_share

FULL = "full"
CASES = "cases"  # the only key of a group without cases


def sampled_protocol(n: int) -> str:
    return f"sampled{n}"


def case_groups(data: SeqDataset, users: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
    head = data.is_head[targets]
    long = data.is_long[users]
    groups = {"overall": np.ones(len(users), dtype=bool), "head": head, "tail": ~head, "short": ~long, "long": long}
    for b in range(int(data.bucket.max()) + 1):
        groups[f"bucket{b}"] = data.bucket[targets] == b
    return groups


def group_metrics(
    data: SeqDataset,
    users: np.ndarray,
    targets: np.ndarray,
    ranks: dict[str, np.ndarray],
    ks: list[int],
    top: np.ndarray | None = None,
) -> dict[str, float]:
    """Flat {"<protocol>/<group>/<metric>": value}, plus list diversity of the full protocol."""
    groups = case_groups(data, users, targets)
    out: dict[str, float] = {}
    for protocol, r in ranks.items():
        for group, members in groups.items():
            if not members.any():
                out[f"{protocol}/{group}/{CASES}"] = 0
                continue
            for name, value in rank_metrics(r[members], ks).items():
                out[f"{protocol}/{group}/{name}"] = value
    if top is not None:
        k = top.shape[1]
        out[f"{FULL}/overall/tail_share_{k}"] = tail_share(top, data.is_head)
        out[f"{FULL}/overall/coverage_{k}"] = coverage(top, data.n_items)
    return out


def group_sizes(data: SeqDataset, users: np.ndarray, targets: np.ndarray) -> dict[str, int]:
    return {g: int(m.sum()) for g, m in case_groups(data, users, targets).items()}
