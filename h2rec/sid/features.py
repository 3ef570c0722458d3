"""The embed stage's output: one L2-normalised vector per item, stored with its item ids.

`item_embeddings.npz` holds `item` (int32, 1..I), `item_id` (str), `embeddings` (float32,
(I, dim)) and `model_key`; row r belongs to item r+1. Loading checks all of that, so a stale
or foreign file is refused instead of silently shifting every item's vector by one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from h2rec.errors import DataError
from h2rec.io import atomic_path


def save_embeddings(path: Path | str, item_ids: list[str], vectors: np.ndarray, model_key: str) -> None:
    vectors = np.ascontiguousarray(vectors, np.float32)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                item=np.arange(1, len(item_ids) + 1, dtype=np.int32),
                item_id=np.array(item_ids, dtype=str),
                embeddings=vectors,
                model_key=np.array(model_key),
            )


class Embeddings:
    """Loaded embeddings: `.vectors` (I, dim) float32, `.item_ids` (I,), `.model_key`."""

    def __init__(self, vectors: np.ndarray, item_ids: np.ndarray, model_key: str):
        self.vectors, self.item_ids, self.model_key = vectors, item_ids, model_key

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def load_embeddings(path: Path | str, items: pd.DataFrame | None = None) -> Embeddings:
    """Read and check; with `items` (items.parquet) also check it is the same catalogue."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found; run `h2rec embed` first")
    try:
        with np.load(path, allow_pickle=False) as z:
            item, item_ids = z["item"], z["item_id"]
            vectors, model_key = z["embeddings"], str(z["model_key"])
    except Exception as e:
        raise DataError(f"{path}: not a readable embeddings file (truncated or corrupt?): {e}") from None
    n = len(item)
    if vectors.ndim != 2 or len(vectors) != n or len(item_ids) != n:
        raise DataError(f"{path}: {n} items but embeddings of shape {vectors.shape}")
    if not np.array_equal(item, np.arange(1, n + 1)):
        raise DataError(f"{path}: rows are not items 1..{n} in order")
    if items is not None:
        expected = items["item_id"].astype(str).to_numpy()
        if len(expected) != n or not np.array_equal(expected, item_ids.astype(str)):
            raise DataError(
                f"{path}: embeddings are for a different item table ({n} items vs "
                f"{len(expected)} in items.parquet); rerun `h2rec embed`"
            )
    return Embeddings(vectors.astype(np.float32, copy=False), item_ids.astype(str), model_key)
