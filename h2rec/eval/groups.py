"""Which evaluation cases belong to which group, and the metric names per group.

A case is one user and one target item. Groups: overall; head / tail by the target item's
training popularity; short / long by the user's training length; bucket0..bucket{n-1} by the
target's popularity bucket (0 = least popular). Keys read `<protocol>/<group>/<metric>`, e.g.
`full/overall/ndcg_10` or `sampled100/tail/hr_10`.

The paper's grouping (LLM-ESR's, which H2Rec's code reuses) sits beside ours, its groups
prefixed `paper_`: an item is head if it occurs at least `ts_item` times over the users' whole
sequences (train, validation and test), a user is short if the history before the target is
shorter than `ts_user` items (params `evaluate.paper_groups`). A group with no case (no tail target in a
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


PAPER = "paper_"  # prefix of the paper's groups


def case_groups(
    data: SeqDataset,
    users: np.ndarray,
    targets: np.ndarray,
    history: np.ndarray | None = None,
    paper: tuple[int, int] | None = None,
) -> dict[str, np.ndarray]:
    """{group: (cases,) bool}; with `history` (items before each target) and `paper` =
    (ts_item, ts_user), the paper's head / tail / short / long too."""
    head = data.is_head[targets]
    long = data.is_long[users]
    groups = {"overall": np.ones(len(users), dtype=bool), "head": head, "tail": ~head, "short": ~long, "long": long}
    for b in range(int(data.bucket.max()) + 1):
        groups[f"bucket{b}"] = data.bucket[targets] == b
    if paper is not None and history is not None:
        ts_item, ts_user = paper
        occurrences = np.bincount(data.flat, minlength=data.n_items + 1)  # over whole sequences
        p_head, p_short = occurrences[targets] >= ts_item, history < ts_user
        groups |= {f"{PAPER}head": p_head, f"{PAPER}tail": ~p_head, f"{PAPER}short": p_short, f"{PAPER}long": ~p_short}
    return groups


def group_metrics(
    data: SeqDataset,
    users: np.ndarray,
    targets: np.ndarray,
    ranks: dict[str, np.ndarray],
    ks: list[int],
    top: np.ndarray | None = None,
    history: np.ndarray | None = None,
    paper: tuple[int, int] | None = None,
) -> dict[str, float]:
    """Flat {"<protocol>/<group>/<metric>": value}, plus list diversity of the full protocol."""
    groups = case_groups(data, users, targets, history, paper)
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


def group_sizes(
    data: SeqDataset,
    users: np.ndarray,
    targets: np.ndarray,
    history: np.ndarray | None = None,
    paper: tuple[int, int] | None = None,
) -> dict[str, int]:
    return {g: int(m.sum()) for g, m in case_groups(data, users, targets, history, paper).items()}
