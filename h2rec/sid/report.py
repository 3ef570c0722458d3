"""How good is a tokenization? Flat metrics for DVC, a usage table and a usage plot.

Utilisation = share of a level's K codes that some item uses; entropy in bits (normalised by
log2 K: 1.0 = perfectly even use); unique share = items whose full tuple (before the dedup
level) no other item has; relative reconstruction error = mean ||x - x_hat|| / ||x||.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from h2rec.io import atomic_path


def tuple_stats(codes: np.ndarray) -> dict[str, float]:
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    n = max(len(codes), 1)
    return {
        "unique_tuple_share": float((counts[inverse.ravel()] == 1).sum() / n),
        "distinct_tuple_share": float(len(counts) / n),
        "largest_collision_group": int(counts.max()) if len(counts) else 0,
    }


def level_stats(codes: np.ndarray, codebook_size: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for level in range(codes.shape[1]):
        counts = np.bincount(codes[:, level], minlength=codebook_size)
        p = counts[counts > 0] / counts.sum()
        entropy = float(-(p * np.log2(p)).sum())
        out[f"level_{level}_utilisation"] = float((counts > 0).mean())
        out[f"level_{level}_entropy_bits"] = entropy
        out[f"level_{level}_entropy_norm"] = entropy / float(np.log2(codebook_size))
    return out


def tokenizer_metrics(
    x: np.ndarray, x_hat: np.ndarray, codes: np.ndarray, codebook_size: int, fit_seconds: float
) -> dict[str, float]:
    """Flat {name: number} for metrics/tokenizer.json; `codes` without the dedup level."""
    rel = np.linalg.norm(x - x_hat, axis=1) / np.maximum(np.linalg.norm(x, axis=1), 1e-12)
    return {
        "n_items": int(len(codes)),
        **level_stats(codes, codebook_size),
        **tuple_stats(codes),
        "rel_recon_error": float(rel.mean()),
        "fit_seconds": round(float(fit_seconds), 3),
    }


def usage_table(codes: np.ndarray, codebook_size: int) -> pd.DataFrame:
    """Items per code, each level sorted from most to least used: `rank`, `level_0`, ...
    (one line per level in `dvc plots show`)."""
    table = pd.DataFrame({"rank": np.arange(codebook_size)})
    for level in range(codes.shape[1]):
        counts = np.bincount(codes[:, level], minlength=codebook_size)
        table[f"level_{level}"] = np.sort(counts)[::-1]
    return table


def plot_usage(codes: np.ndarray, codebook_size: int, path: Path | str, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = codes.shape[1]
    fig, axes = plt.subplots(1, levels, figsize=(4 * levels, 3.2), sharey=False, squeeze=False)
    for level, ax in enumerate(axes[0]):
        counts = np.bincount(codes[:, level], minlength=codebook_size)
        ax.bar(np.arange(codebook_size), counts, width=1.0, color="tab:blue")
        ax.axhline(len(codes) / codebook_size, color="tab:red", lw=1, label="uniform")
        used = (counts > 0).mean()
        ax.set_title(f"level {level}: {used:.0%} of {codebook_size} codes used")
        ax.set_xlabel("code")
        ax.set_ylabel("items")
        ax.legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
