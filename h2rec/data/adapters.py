"""Dataset adapters: every supported layout becomes the same two canonical tables.

interactions: `user_id` (str), `item_id` (str), `ts` (int64: Unix time or a plain order)
items:        `item_id` (str) plus text columns (str, "" where absent)

Timestamps of the custom and atomic sources may be numbers (Unix seconds or any order),
ISO-8601 strings or datetime columns; date-times become Unix seconds in UTC (a time without
a zone is taken as UTC).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from h2rec.config import AmazonRawSource, AtomicSource, BeautySource, CustomSource, ScientificSource, Source
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
        "atomic": load_atomic,
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
    inter["ts"] = _timestamps(inter["ts"], source.interactions, source.time_col)
    items = read_table(source.items)
    require_columns(items, [source.item_id_col, *source.text_cols], source.items)
    items = items[[source.item_id_col, *source.text_cols]].rename(
        columns={source.item_id_col: "item_id"}
    )
    return inter, items


def _timestamps(values: pd.Series, path: Path, column: str, fractional: bool = False) -> pd.Series:
    """Unix seconds (int64) from numbers, ISO-8601 strings or a datetime column.

    Numbers are kept as they are (seconds or a plain order); `fractional` allows fractions
    of a second, which are dropped (RecBole writes timestamps as floats).
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values):
        return _unix_seconds(values, path, column)
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().all() and values.notna().any():  # no number at all: date-time strings
        return _unix_seconds(values, path, column)
    bad = numeric.isna() | ~np.isfinite(numeric.fillna(0))
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy())[:5] + 2).tolist()  # +2: header line, 1-based
        raise DataError(
            f"{path}: column '{column}' must hold numbers (Unix seconds or an order) or ISO-8601 date-times "
            f"(2020-01-01 10:00:00, 2020-01-02T10:00:00Z), not a mix; "
            f"{int(bad.sum())} bad value(s), e.g. {values[bad].head(5).tolist()} on lines {rows}"
        )
    if not fractional and (numeric != np.floor(numeric)).any():
        raise DataError(f"{path}: column '{column}' must hold whole numbers")
    return np.floor(numeric).astype("int64")


def _unix_seconds(values: pd.Series, path: Path, column: str) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values):
        stamps = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    else:
        text = values.astype("string").str.strip()
        stamps = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        bad = stamps.isna().to_numpy()
        if bad.any():
            rows = (np.flatnonzero(bad)[:5] + 2).tolist()  # +2: header line, 1-based
            raise DataError(
                f"{path}: column '{column}' holds date-times, but {int(bad.sum())} value(s) are not ISO-8601 "
                f"(e.g. {values[bad].head(5).tolist()} on lines {rows}); write them as 2020-01-01 10:00:00, "
                "2020-01-02T10:00:00Z or 2020-01-02T12:00:00+02:00, or as Unix seconds"
            )
    if stamps.isna().any():
        raise DataError(f"{path}: column '{column}' has {int(stamps.isna().sum())} empty date-time(s)")
    seconds = (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    return seconds.astype("int64")


# -- RecBole atomic files ----------------------------------------------------------------------
ATOMIC_TYPES = ("token", "token_seq", "float", "float_seq")


def _atomic_table(path: Path, role: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """A `.inter`/`.item` file with its `name:type` header split into names and types."""
    table = read_table(path, sep="\t")
    types: dict[str, str] = {}
    for header in table.columns:
        name, sep, kind = str(header).rpartition(":")
        if not sep or not name:
            raise DataError(
                f"{path}: header field {header!r} has no type; RecBole {role} headers read name:type, "
                f"with type one of {', '.join(ATOMIC_TYPES)} (e.g. user_id:token)"
            )
        if kind not in ATOMIC_TYPES:
            raise DataError(
                f"{path}: header field {header!r} has an unknown type {kind!r}; RecBole types are {', '.join(ATOMIC_TYPES)}"
            )
        types[name] = kind
    return table.set_axis(list(types), axis=1), types


def _require_fields(types: dict[str, str], fields: dict[str, str], path: Path) -> None:
    missing = [f"{key}: {name!r}" for key, name in fields.items() if name not in types]
    if missing:
        raise DataError(
            f"{path}: no field {', '.join(missing)} (data.sources); the header has "
            f"{[f'{n}:{t}' for n, t in types.items()]}. Set these keys to the header's field names"
        )


def load_atomic(source: AtomicSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    inter, types = _atomic_table(source.inter, ".inter")
    fields = {"user_col": source.user_col, "item_col": source.item_col}
    if source.time_col is not None:
        fields["time_col"] = source.time_col
    _require_fields(types, fields, source.inter)
    events = pd.DataFrame({"user_id": inter[source.user_col], "item_id": inter[source.item_col]})
    if source.time_col is None:  # the file's order is the time order
        events["ts"] = np.arange(len(events), dtype="int64")
    else:
        events["ts"] = _timestamps(inter[source.time_col], source.inter, source.time_col, fractional=True)
    if source.item is None:
        return events, pd.DataFrame({"item_id": pd.unique(events["item_id"])})
    items, item_types = _atomic_table(source.item, ".item")
    _require_fields(item_types, {"item_col": source.item_col}, source.item)
    if source.text_cols is None:
        text = [n for n, t in item_types.items() if t in ("token", "token_seq") and n != source.item_col]
    else:
        _require_fields(item_types, {f"text_cols[{i}]": c for i, c in enumerate(source.text_cols)}, source.item)
        text = list(source.text_cols)
    items = items[[source.item_col, *text]].rename(columns={source.item_col: "item_id"})
    return events, items.drop_duplicates("item_id", keep="first")


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
    # A user reviewing the same item twice counts once, at the first review (by time, not file order).
    inter = inter.sort_values("ts", kind="stable").drop_duplicates(["user_id", "item_id"], keep="first")
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
