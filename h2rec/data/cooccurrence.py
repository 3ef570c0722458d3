"""Item co-occurrence in training sequences, as PPMI, kept as each item's top-k neighbours.

Two items co-occur when they are at most `window` positions apart in a user's training items
(validation and test items are never read). With c_ab the symmetric pair count, c_a = sum_b
c_ab and N = sum_ab c_ab:

    PPMI(a, b) = max(0, log(c_ab * N / (c_a * c_b)))

Pairs seen fewer than `min_count` times are dropped before ranking. Each item keeps its
`top_k` neighbours by PPMI; L_code uses them as extra, weighted positives.

File (`data/cooccurrence/ppmi.npz`): `neighbours` (I+1, k) int32 item ids, 0 = none;
`ppmi` (I+1, k) float32, 0 where there is no neighbour; row 0 (padding) is empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from h2rec.errors import DataError
from h2rec.io import atomic_path


def cooccurrence_counts(offsets: np.ndarray, flat: np.ndarray, n_train: np.ndarray, n_items: int, window: int) -> sp.csr_matrix:
    """(I+1, I+1) symmetric counts of distinct items within `window` positions, training items only."""
    counts = np.diff(offsets)
    user = np.repeat(np.arange(len(counts)), counts)
    pos = np.arange(len(flat)) - np.repeat(offsets[:-1], counts)
    train = pos < np.repeat(n_train, counts)
    rows, cols = [], []
    for gap in range(1, window + 1):
        a, b = np.arange(len(flat) - gap), np.arange(gap, len(flat))
        ok = (user[a] == user[b]) & train[a] & train[b] & (flat[a] != flat[b])
        rows += [flat[a[ok]], flat[b[ok]]]
        cols += [flat[b[ok]], flat[a[ok]]]
    r, c = np.concatenate(rows or [np.zeros(0, np.int64)]), np.concatenate(cols or [np.zeros(0, np.int64)])
    return sp.csr_matrix((np.ones(len(r), np.float64), (r, c)), shape=(n_items + 1, n_items + 1))


def ppmi_neighbours(counts: sp.csr_matrix, min_count: int, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """(neighbours, ppmi), both (I+1, top_k), strongest first; see the module note."""
    counts = counts.tocoo()
    total = counts.sum()
    marginal = np.asarray(counts.sum(1)).ravel()
    keep = counts.data >= min_count
    r, c, v = counts.row[keep], counts.col[keep], counts.data[keep]
    pmi = np.log(v * total / (marginal[r] * marginal[c])) if len(v) else v
    pos = pmi > 0
    r, c, pmi = r[pos], c[pos], pmi[pos]
    order = np.lexsort((c, -pmi, r))  # by row, then strongest first (ties: smaller id)
    r, c, pmi = r[order], c[order], pmi[order]
    first = np.searchsorted(r, r, side="left")
    rank = np.arange(len(r)) - first
    top = rank < top_k
    n = counts.shape[0]
    neighbours = np.zeros((n, top_k), np.int32)
    weights = np.zeros((n, top_k), np.float32)
    neighbours[r[top], rank[top]] = c[top]
    weights[r[top], rank[top]] = pmi[top]
    return neighbours, weights


def save_cooccurrence(path: Path | str, neighbours: np.ndarray, ppmi: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, neighbours=neighbours.astype(np.int32), ppmi=ppmi.astype(np.float32))


def load_cooccurrence(path: Path | str, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: not found; run `h2rec cooccurrence` (or set train.h2rec.code_cooccurrence: 0)")
    try:
        with np.load(path, allow_pickle=False) as z:
            neighbours, ppmi = z["neighbours"], z["ppmi"]
    except Exception as e:
        raise DataError(f"{path}: not a readable co-occurrence file: {e}") from None
    if neighbours.shape != ppmi.shape or len(neighbours) != n_items + 1 or neighbours.max(initial=0) > n_items:
        raise DataError(
            f"{path}: table of shape {neighbours.shape} does not fit a catalogue of {n_items} items; "
            "rerun `h2rec cooccurrence` after `h2rec split`"
        )
    return neighbours.astype(np.int64), ppmi
