"""Great Expectations suites run before the embed and tokenize stages write anything.

Array properties (finite values, norms, dimension) become per-row columns of a small frame, so
GX can count and quote the bad rows like any other table.
"""

from __future__ import annotations

from pathlib import Path

import great_expectations.expectations as gxe
import numpy as np
import pandas as pd

from h2rec.validation.gx import Check, run_checks


def _catalogue_expectations(n_items: int) -> list:
    """`item` is exactly 1..n_items: n rows, unique, in range, no gaps possible."""
    return [
        gxe.ExpectTableRowCountToEqual(value=n_items),
        gxe.ExpectColumnValuesToNotBeNull(column="item"),
        gxe.ExpectColumnValuesToBeUnique(column="item"),
        gxe.ExpectColumnValuesToBeBetween(column="item", min_value=1, max_value=n_items),
        gxe.ExpectColumnValuesToBeInSet(column="item_id_matches", value_set=[True]),
    ]


def validate_embeddings(vectors: np.ndarray, item_ids: list[str], items: pd.DataFrame, dim: int, report: Path | str) -> dict:
    """Finite, unit-norm, `dim` wide, one row per item of items.parquet, in its order."""
    n = len(vectors)
    frame = pd.DataFrame(
        {
            "item": np.arange(1, n + 1),
            "item_id_matches": _ids_match(item_ids, items),
            "finite": np.isfinite(vectors).all(axis=1) if vectors.ndim == 2 else False,
            "dim": vectors.shape[1] if vectors.ndim == 2 else 0,
            "norm": np.linalg.norm(np.nan_to_num(vectors), axis=1) if vectors.ndim == 2 else 0.0,
        }
    )
    return run_checks(
        "embeddings",
        [
            Check(
                "embeddings",
                frame,
                [
                    *_catalogue_expectations(len(items)),
                    gxe.ExpectColumnValuesToBeInSet(column="finite", value_set=[True]),
                    gxe.ExpectColumnValuesToBeInSet(column="dim", value_set=[dim]),
                    gxe.ExpectColumnValuesToBeBetween(column="norm", min_value=0.999, max_value=1.001),
                ],
            )
        ],
        report,
    )


def validate_sids(table: pd.DataFrame, items: pd.DataFrame, cardinalities: list[int], dedup: bool, report: Path | str) -> dict:
    """One row per item, codes within [0, K) per column, unique full tuples with dedup."""
    code_cols = [f"code_{i}" for i in range(len(cardinalities))]
    frame = table.assign(item_id_matches=_ids_match(table["item_id"].tolist(), items, table["item"]))
    expectations = _catalogue_expectations(len(items))
    for column, k in zip(code_cols, cardinalities):
        expectations += [
            gxe.ExpectColumnValuesToNotBeNull(column=column),
            gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=k - 1),
        ]
    if dedup:
        expectations.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=code_cols))
    return run_checks("sids", [Check("sids", frame, expectations)], report)


def _ids_match(item_ids: list[str], items: pd.DataFrame, rows: pd.Series | None = None) -> np.ndarray:
    """Per row: is this item's id the one items.parquet has for the same item number?"""
    expected = dict(zip(items["item"].astype(int), items["item_id"].astype(str)))
    numbers = range(1, len(item_ids) + 1) if rows is None else rows.astype(int)
    return np.array([expected.get(i) == str(v) for i, v in zip(numbers, item_ids)], dtype=bool)
