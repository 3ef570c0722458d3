"""Item text for the embedder: clean each field, join the fields into one string per item.

Amazon metadata is raw scraped text: HTML entities (`&amp;`, `&#9733;`, sometimes escaped
twice), stray tags in descriptions, control characters, and now and then a megabyte-long
description. The embedder should see the words a shopper sees, so all of that is removed
here, once, and the result is what the embedding cache is keyed on.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Sequence

import pandas as pd

from h2rec.errors import DataError

_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")  # "<br/>", "</b>"; not "3 < 5 and 7 > 2"
_SPACE = re.compile(r"\s+")
# Cc: control, Cf: format (zero-width, bidi marks), Cs: lone surrogates (break tokenizers),
# Co/Cn: private-use and unassigned code points.
_DROP_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}


def clean_text(value: object, max_chars: int | None = None) -> str:
    """One field -> plain single-line text; None/NaN -> ""; lists are joined with ", "."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    elif isinstance(value, (list, tuple)):
        return _cap(", ".join(p for p in (clean_text(v) for v in value) if p), max_chars)
    elif not isinstance(value, str):
        value = str(value)
    if max_chars is not None:
        # Pre-cap before the character loop so a huge field costs nothing; the slack
        # leaves room for entities and tags that shrink when decoded.
        value = value[: 4 * max_chars]
    for _ in range(3):  # doubly escaped text ("&amp;#9733;") needs a second pass
        unescaped = html.unescape(value)
        if unescaped == value:
            break
        value = unescaped
    value = _TAG.sub(" ", value)
    value = "".join(
        " " if ch.isspace() else ch for ch in value if ch.isspace() or unicodedata.category(ch) not in _DROP_CATEGORIES
    )
    return _cap(_SPACE.sub(" ", value).strip(), max_chars)


def _cap(text: str, max_chars: int | None) -> str:
    """Cut at a word boundary when one is near, so the last token is a real word."""
    if max_chars is None or len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return (cut[:space] if space > max_chars * 0.8 else cut).rstrip()


def item_texts(
    items: pd.DataFrame,
    fields: Sequence[str],
    separator: str = ". ",
    label_fields: bool = True,
    max_chars: int = 2000,
    source: str = "items",
) -> list[str]:
    """One string per row of `items`: its non-empty fields in `fields` order.

    Fields the table lacks are skipped (Beauty has titles only); if it has none of them the
    configuration cannot be right, so that is an error naming the columns it does have.
    """
    present = [f for f in fields if f in items.columns]
    if not present:
        raise DataError(
            f"{source}: none of the text fields {list(fields)} (params.yaml embed.fields) is a "
            f"column; found {list(items.columns)}"
        )
    columns = [[clean_text(v, max_chars) for v in items[f].tolist()] for f in present]
    texts = []
    for values in zip(*columns):
        parts = [
            f"{name}: {value}" if label_fields and k > 0 else value
            for k, (name, value) in enumerate(zip(present, values))
            if value
        ]
        texts.append(_cap(separator.join(parts), max_chars))
    return texts
