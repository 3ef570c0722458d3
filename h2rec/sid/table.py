"""Semantic IDs as a dense code table, read from the tokenize stage's output.

`<sid dir>/sids.parquet`: `item` (1..I), `item_id`, `code_0..code_{L-1}`; `<sid dir>/sid_meta.json`:
{"levels", "cardinalities", "method", "dedup"}. The quantizer under `<sid dir>/quantizer/` is
only read when codebook initialisation is asked for.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from h2rec.errors import DataError
from h2rec.io import read_parquet
from h2rec.sid.loading import load_quantizer


@dataclass(frozen=True)
class SidTable:
    codes: np.ndarray  # (I+1, L) int64, codes of item i in row i; row 0 (padding) is -1
    cardinalities: list[int]  # K per level
    codebooks: list[np.ndarray] | None = None  # (K, dim) per quantized level, when loaded
    dedup: bool = False  # the last level is the tokenizer's dedup code, not a quantized level

    @property
    def levels(self) -> int:
        return self.codes.shape[1]

    @classmethod
    def from_frame(cls, sids: pd.DataFrame, cardinalities: list[int], n_items: int, source: str = "sids") -> SidTable:
        cols = [f"code_{l}" for l in range(len(cardinalities))]
        missing = [c for c in ["item", *cols] if c not in sids.columns]
        if missing:
            raise DataError(f"{source}: missing column(s) {missing} (sid_meta lists {len(cols)} levels)")
        items = sids["item"].to_numpy(np.int64)
        width = max(n_items, int(items.max(initial=0))) + 1
        codes = np.full((width, len(cols)), -1, dtype=np.int64)
        codes[items] = sids[cols].to_numpy(np.int64)
        lacking = np.flatnonzero((codes[1 : n_items + 1] < 0).any(1)) + 1
        if len(lacking):
            raise DataError(
                f"{source}: no Semantic ID for {len(lacking)} item(s), e.g. {lacking[:5].tolist()}; rerun `h2rec tokenize`"
            )
        too_big = codes >= np.asarray(cardinalities)[None, :]
        if too_big.any():
            level = int(np.flatnonzero(too_big.any(0))[0])
            raise DataError(f"{source}: code_{level} has values >= its cardinality {cardinalities[level]}")
        return cls(codes, list(cardinalities))

    @classmethod
    def load(cls, sid_dir: Path | str, n_items: int, with_codebooks: bool = False) -> SidTable:
        d = Path(sid_dir)
        meta_path = d / "sid_meta.json"
        if not meta_path.exists():
            raise DataError(f"{meta_path}: not found; run `h2rec tokenize` before training a SID model")
        meta = json.loads(meta_path.read_text())
        table = cls.from_frame(read_parquet(d / "sids.parquet"), meta["cardinalities"], n_items, str(d / "sids.parquet"))
        codebooks = load_codebooks(d / "quantizer") if with_codebooks else None
        return cls(table.codes, table.cardinalities, codebooks, bool(meta.get("dedup", False)))

    def without_dedup(self) -> SidTable:
        """The quantized levels only (a trailing dedup level dropped)."""
        if not self.dedup:
            return self
        return SidTable(self.codes[:, :-1], self.cardinalities[:-1], self.codebooks, False)

    def signature(self) -> str:
        return hashlib.sha256(self.codes.tobytes() + json.dumps(self.cardinalities).encode()).hexdigest()[:16]


def load_codebooks(quantizer_dir: Path) -> list[np.ndarray]:
    """The saved quantizer's codebooks, one (K, dim) float32 array per quantized level."""
    if not quantizer_dir.exists():
        raise DataError(f"{quantizer_dir}: no saved quantizer; run `h2rec tokenize` or set train.sid.init: random")
    return [np.asarray(c, dtype=np.float32) for c in load_quantizer(quantizer_dir).codebooks]
