"""From codes to the SID table other stages read, and the optional dedup level.

`data/sid/sids.parquet`: `item` (int32, 1..I), `item_id`, `code_0` .. `code_{n-1}` (int32),
n = levels (+1 with dedup). `data/sid/sid_meta.json`: {"levels", "cardinalities" (codes per
column: K per level, then the dedup column's max + 1), "method", "dedup", "codebook_size",
"model_key"}. A model needs only these two files; `h2rec.sid.quantizer.load_quantizer`
adds the codebooks if it wants them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DedupCounts = dict[tuple[int, ...], int]


def dedup_level(codes: np.ndarray, counts: DedupCounts | None = None) -> tuple[np.ndarray, DedupCounts]:
    """TIGER-style extra code: how many earlier items (in row order, after those already in
    `counts`) hold the same tuple. Makes every full tuple unique. Returns (codes (n,), the
    updated counts); `counts` itself is not modified."""
    counts = dict(counts or {})
    extra = np.empty(len(codes), np.int32)
    for i, row in enumerate(map(tuple, np.asarray(codes).tolist())):
        extra[i] = counts.get(row, 0)
        counts[row] = extra[i] + 1
    return extra, counts


def code_columns(n: int) -> list[str]:
    return [f"code_{i}" for i in range(n)]


def sid_table(item_ids: Sequence[str], codes: np.ndarray, dedup: np.ndarray | None = None) -> pd.DataFrame:
    """Rows in item order: row r is item r+1."""
    full = codes if dedup is None else np.column_stack([codes, dedup])
    table = pd.DataFrame({"item": np.arange(1, len(item_ids) + 1, dtype=np.int32), "item_id": list(item_ids)})
    for name, column in zip(code_columns(full.shape[1]), full.T):
        table[name] = column.astype(np.int32)
    return table


def sid_meta(levels: int, codebook_size: int, method: str, dedup: np.ndarray | None, model_key: str) -> dict:
    cardinalities = [codebook_size] * levels
    if dedup is not None:
        cardinalities.append(int(dedup.max()) + 1 if len(dedup) else 1)
    return {
        "levels": levels,
        "cardinalities": cardinalities,
        "method": method,
        "dedup": dedup is not None,
        "codebook_size": codebook_size,
        "model_key": model_key,
    }
