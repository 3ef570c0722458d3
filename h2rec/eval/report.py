"""Turn flat evaluation metrics into a printed table, per-group CSV rows and two charts.

A group without test cases (only `<protocol>/<group>/cases: 0` in the metrics) gets no CSV row
and no bar; the table names it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from h2rec.io import atomic_path

TABLE_GROUPS = ("overall", "head", "tail", "short", "long")


def groups_of(metrics: dict[str, float], protocol: str) -> list[str]:
    """Groups with metrics under `protocol`, in first-seen order (empty groups left out)."""
    seen: list[str] = []
    for key in metrics:
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == protocol and parts[2] != "cases" and parts[1] not in seen:
            seen.append(parts[1])
    return seen


def _has(metrics: dict[str, float], protocol: str, group: str, k: int) -> bool:
    return f"{protocol}/{group}/ndcg_{k}" in metrics


def group_rows(metrics: dict[str, float], sizes: dict[str, int], protocol: str, ks: list[int]) -> list[dict]:
    rows = []
    for group in groups_of(metrics, protocol):
        row: dict = {"group": group, "users": sizes.get(group, 0)}
        for k in ks:
            for name in ("hr", "ndcg"):
                row[f"{name}_{k}"] = round(metrics[f"{protocol}/{group}/{name}_{k}"], 6)
        rows.append(row)
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def format_table(metrics: dict[str, float], sizes: dict[str, int], protocols: list[str], k: int = 10) -> str:
    """Overall / head / tail / short / long, HR@k and NDCG@k under each protocol."""
    header = f"{'group':<9}{'users':>7}" + "".join(f"{p + ' HR@' + str(k):>20}{'NDCG@' + str(k):>10}" for p in protocols)
    lines = [header, "-" * len(header)]
    for g in TABLE_GROUPS:
        if metrics.get(f"{protocols[0]}/{g}/cases") == 0:
            lines.append(f"{g:<9}{0:>7}  (no test cases)")
            continue
        if f"{protocols[0]}/{g}/hr_{k}" not in metrics:
            continue
        cells = "".join(f"{metrics[f'{p}/{g}/hr_{k}']:>20.4f}{metrics[f'{p}/{g}/ndcg_{k}']:>10.4f}" for p in protocols)
        lines.append(f"{g:<9}{sizes.get(g, 0):>7}{cells}")
    extra = [key for key in metrics if "tail_share" in key or "coverage" in key]
    lines += [f"{key}: {metrics[key]:.4f}" for key in extra]
    return "\n".join(lines)


def plot_head_tail(metrics: dict[str, float], protocols: list[str], path: Path, k: int = 10) -> None:
    """Bars of NDCG@k and HR@k for overall / head / tail, one panel per protocol."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(protocols), figsize=(5 * len(protocols), 3.5), squeeze=False)
    for ax, p in zip(axes[0], protocols):
        groups = [g for g in ("overall", "head", "tail") if _has(metrics, p, g, k)]
        for j, name in enumerate(("hr", "ndcg")):
            values = [metrics[f"{p}/{g}/{name}_{k}"] for g in groups]
            ax.bar([i + 0.4 * j for i in range(len(groups))], values, width=0.4, label=f"{name.upper()}@{k}")
        ax.set_xticks([i + 0.2 for i in range(len(groups))], groups)
        ax.set_title(p)
        ax.legend()
    _save(fig, path)


def plot_buckets(metrics: dict[str, float], protocols: list[str], path: Path, k: int = 10) -> None:
    """NDCG@k by popularity bucket of the target item (0 = least popular)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    buckets: list[str] = []
    for p in protocols:
        buckets = [g for g in groups_of(metrics, p) if g.startswith("bucket")]
        x = [int(b.removeprefix("bucket")) for b in buckets]  # an empty bucket leaves a gap, not a shift
        ax.plot(x, [metrics[f"{p}/{b}/ndcg_{k}"] for b in buckets], marker="o", label=p)
    ax.set_xticks([int(b.removeprefix("bucket")) for b in buckets], [b.removeprefix("bucket") for b in buckets])
    ax.set_xlabel("popularity bucket of the target (0 = least popular)")
    ax.set_ylabel(f"NDCG@{k}")
    ax.legend()
    _save(fig, path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
