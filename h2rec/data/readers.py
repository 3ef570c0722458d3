"""Low-level readers that turn every way a file can be broken into a DataError naming it."""

from __future__ import annotations

import ast
import gzip
import json
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from h2rec.errors import DataError


def read_text(path: Path) -> str:
    """Whole file as UTF-8 text, transparently gunzipped."""
    raw = _read_bytes(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path}: not valid UTF-8 at byte {e.start} ({raw[e.start:e.start + 8]!r}); "
            "re-encode the file as UTF-8"
        ) from None


def _read_bytes(path: Path) -> bytes:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found (check data.sources in params.yaml)")
    try:
        with (gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")) as fh:
            raw = fh.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read ({e}); is the file truncated?") from None
    if not raw.strip():
        raise DataError(f"{path}: file is empty")
    return raw


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def read_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None


def iter_json_lines(path: Path) -> Iterator[dict]:
    """JSON-lines records; also accepts the Python-literal lines of the 2014 Amazon metadata."""
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            try:
                record = ast.literal_eval(line)  # literals only: never executes code
            except (ValueError, SyntaxError):
                raise DataError(f"{path}: line {lineno} is neither JSON nor a literal record") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {lineno} is not an object")
        yield record


def read_table(path: Path, sep: str | None = None) -> pd.DataFrame:
    """CSV/TSV (by extension or `sep`) or Parquet, every column read as text."""
    path = Path(path)
    if path.suffix == ".parquet":
        from h2rec.io import read_parquet

        df = read_parquet(path)
        if df.empty:
            raise DataError(f"{path}: table has no rows")
        return df
    text = read_text(path)
    sep = sep or ("\t" if path.suffix in (".tsv", ".tab") else ",")
    import csv
    import io

    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(f"{path}: malformed table: {e}") from None
    if df.empty:
        raise DataError(f"{path}: table has a header but no rows")
    return df
