"""Dataset adapters: every supported layout becomes the same two canonical tables.

interactions: `user_id` (str), `item_id` (str), `ts` (int64: Unix time or a plain order)
items:        `item_id` (str) plus text columns (str, "" where absent)
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from h2rec.config import AmazonRawSource, BeautySource, CustomSource, ScientificSource, Source
from h2rec.data.kcore import kcore_filter
from h2rec.data.readers import iter_json_lines, read_json, read_table, read_text
from h2rec.errors import DataError
from h2rec.io import require_columns

TEXT_COLUMNS = ["title", "brand", "categories", "description"]


def load_source(source: Source) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one configured dataset into canonical (interactions, items)."""
    loaders = {
        "scientific_json": load_scientific,
        "beauty": load_beauty,
        "amazon_raw": load_amazon_raw,
        "custom": load_custom,
    }
    interactions, items = loaders[source.format](source)
    return _canonical_interactions(interactions), _canonical_items(items)


def _sequences_to_events(sequences: dict[str, list[str]]) -> pd.DataFrame:
    """{user: [item, ...]} in time order -> events whose `ts` is the position."""
    lengths = [len(v) for v in sequences.values()]
    return pd.DataFrame(
        {
            "user_id": np.repeat(list(sequences.keys()), lengths),
            "item_id": [str(i) for seq in sequences.values() for i in seq],
            "ts": np.concatenate([np.arange(n) for n in lengths]) if lengths else [],
        }
    )


def load_scientific(source: ScientificSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    inter = read_json(source.interactions)
    if not isinstance(inter, dict) or not all(isinstance(v, list) for v in inter.values()):
        raise DataError(f"{source.interactions}: expected a JSON object {{user: [item, ...]}}")
    bad = [(u, i) for u, seq in inter.items() for i in seq if not isinstance(i, (int, str))]
    if bad:
        raise DataError(f"{source.interactions}: item ids must be integers or strings, e.g. {bad[:3]}")
    meta = read_json(source.items)
    if not isinstance(meta, dict) or not all(isinstance(v, dict) for v in meta.values()):
        raise DataError(f"{source.items}: expected a JSON object {{item: {{title, ...}}}}")
    items = pd.DataFrame.from_dict(meta, orient="index")
    items.index.name = "item_id"
    items = items.reset_index()
    require_columns(items, ["title"], source.items)
    return _sequences_to_events({str(u): seq for u, seq in inter.items()}), items


def load_beauty(source: BeautySource) -> tuple[pd.DataFrame, pd.DataFrame]:
    sequences: dict[str, list[str]] = {}
    for lineno, line in enumerate(read_text(source.sequences).splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise DataError(f"{source.sequences}: line {lineno} has a user but no items")
        if parts[0] in sequences:
            raise DataError(f"{source.sequences}: line {lineno} repeats user {parts[0]!r}")
        sequences[parts[0]] = parts[1:]
    titles = read_table(source.titles, sep="\t")
    require_columns(titles, ["asin", "title"], source.titles)
    items = titles.rename(columns={"asin": "item_id"})[["item_id", "title"]]
    return _sequences_to_events(sequences), items


def load_custom(source: CustomSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    inter = read_table(source.interactions)
    cols = [source.user_col, source.item_col, source.time_col]
    require_columns(inter, cols, source.interactions)
    inter = inter[cols].set_axis(["user_id", "item_id", "ts"], axis=1)
    inter["ts"] = _numeric_timestamps(inter["ts"], source.interactions, source.time_col)
    items = read_table(source.items)
    require_columns(items, [source.item_id_col, *source.text_cols], source.items)
    items = items[[source.item_id_col, *source.text_cols]].rename(
        columns={source.item_id_col: "item_id"}
    )
    return inter, items


def _numeric_timestamps(values: pd.Series, path: Path, column: str) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna() | ~np.isfinite(numeric.fillna(0))
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy())[:5] + 2).tolist()  # +2: header line, 1-based
        raise DataError(
            f"{path}: column '{column}' must be numeric (Unix seconds or an order); "
            f"{int(bad.sum())} bad value(s), e.g. {values[bad].head(5).tolist()} on lines {rows}"
        )
    if (numeric != np.floor(numeric)).any():
        raise DataError(f"{path}: column '{column}' must hold whole numbers")
    return numeric.astype("int64")


def load_amazon_raw(source: AmazonRawSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    """2014 (`reviews_X_5.json.gz`, literal-dict meta) or 2018 (`X_5.json.gz`, JSON meta)."""
    rows = []
    for r in iter_json_lines(source.reviews):
        try:
            rows.append((str(r["reviewerID"]), str(r["asin"]), int(r["unixReviewTime"])))
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{source.reviews}: each review needs reviewerID, asin and a numeric "
                f"unixReviewTime; got keys {sorted(r)[:8]}"
            ) from None
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    # A user reviewing the same item twice counts once, at the first review.
    inter = inter.drop_duplicates(["user_id", "item_id"], keep="first")
    inter = kcore_filter(inter, source.k_core)
    wanted = set(inter["item_id"])
    meta = [_meta_text(r, source.text_fields) for r in iter_json_lines(source.meta) if r.get("asin") in wanted]
    items = pd.DataFrame(meta, columns=["item_id", *source.text_fields])
    items = items.drop_duplicates("item_id", keep="first")
    return inter, items


def _meta_text(record: dict, fields: list[str]) -> list[str]:
    out = [str(record["asin"])]
    for field in fields:
        value = record.get(field, record.get("category") if field == "categories" else None)
        out.append(_flatten_text(value))
    return out


def _flatten_text(value) -> str:
    """2014 categories are lists of lists, 2018 descriptions are lists of strings."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        parts = [_flatten_text(v) for v in value]
        return ", ".join(p for p in parts if p)
    return re.sub(r"\s+", " ", str(value)).strip()


def _canonical_interactions(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": df["user_id"].astype("string"),
            "item_id": df["item_id"].astype("string"),
            "ts": pd.to_numeric(df["ts"]).astype("int64"),
        }
    )


def _canonical_items(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"item_id": df["item_id"].astype("string")})
    for col in df.columns:
        if col != "item_id":
            out[col] = df[col].map(_flatten_text).astype("string")
    return out
