"""Dataset statistics, written as DVC metrics and printed as a table."""

from __future__ import annotations

import numpy as np

from h2rec.data.split import Prepared


def dataset_stats(prep: Prepared) -> dict[str, float | int]:
    inter, items = prep.interactions, prep.items
    n_users, n_items, n_inter = len(prep.users), len(items), len(inter)
    lengths = inter.groupby("user").size().to_numpy()
    train_total = items["train_count"].sum()
    head_train = items.loc[items["popularity"] == "head", "train_count"].sum()
    q = np.quantile(lengths, [0.25, 0.5, 0.75, 0.9])
    return {
        "users": n_users,
        "items": n_items,
        "interactions": n_inter,
        "density": round(n_inter / (n_users * n_items), 6),
        "head_items": int((items["popularity"] == "head").sum()),
        "head_share_of_train_interactions": round(float(head_train / train_total), 4),
        "tail_share_of_items": round(float((items["popularity"] == "tail").mean()), 4),
        "short_users": int((prep.users["length_group"] == "short").sum()),
        "seq_len_min": int(lengths.min()),
        "seq_len_p25": float(q[0]),
        "seq_len_median": float(q[1]),
        "seq_len_mean": round(float(lengths.mean()), 3),
        "seq_len_p75": float(q[2]),
        "seq_len_p90": float(q[3]),
        "seq_len_max": int(lengths.max()),
    }


def format_stats(stats: dict, title: str = "") -> str:
    width = max(len(k) for k in stats)
    lines = [title] if title else []
    lines += [f"{k:<{width}}  {v:,}" if isinstance(v, int) else f"{k:<{width}}  {v}" for k, v in stats.items()]
    return "\n".join(lines)
