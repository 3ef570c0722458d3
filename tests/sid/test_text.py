import math
import unicodedata

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from h2rec.errors import DataError
from h2rec.sid.text import clean_text, item_texts


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Argan Oil &#9733;LIMITED SALE&#9733;", "Argan Oil ★LIMITED SALE★"),
        ("Salt &amp; Pepper", "Salt & Pepper"),
        ("double &amp;amp; escaped &amp;#9733;", "double & escaped ★"),
        ("line one<br/>line two <b>bold</b>", "line one line two bold"),
        ("tab\there\r\nnew\x00line\x07", "tab here newline"),
        ("zero\u200bwidth \ufeffbom", "zerowidth bom"),
        ("lone \ud800 surrogate", "lone surrogate"),
        ("  many    spaces  ", "many spaces"),
        ("3 < 5 and 7 > 2", "3 < 5 and 7 > 2"),
        ("", ""),
    ],
)
def test_clean_text(raw, expected):
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        (None, ""),
        (float("nan"), ""),
        (pd.NA, ""),
        (b"caf\xc3\xa9 \xff", "café \ufffd"),
        (["Beauty", ["Skin", ""], None, "Face &amp; Body"], "Beauty, Skin, Face & Body"),
        (12.5, "12.5"),
    ],
)
def test_clean_text_odd_inputs(raw, expected):
    assert clean_text(raw) == expected


def test_long_text_is_cut_at_a_word_boundary():
    text = "word " * 1000
    out = clean_text(text, max_chars=103)
    assert len(out) <= 103 and out.endswith("word") and not out.endswith(" ")
    assert clean_text("x" * 5000, max_chars=100) == "x" * 100  # no space to cut at


@given(st.text(max_size=300), st.integers(16, 200))
def test_cleaned_text_is_single_line_printable_and_capped(raw, cap):
    out = clean_text(raw, max_chars=cap)
    assert len(out) <= cap
    assert out == out.strip() and "  " not in out
    assert all(ch == " " or not ch.isspace() for ch in out)
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in out)
    out.encode("utf-8")  # no lone surrogates left


def test_item_texts_joins_fields_in_order_and_skips_missing():
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "title": ["Drill &amp; Bits", "", "Gloves"],
            "description": ["Cordless.", "Only a description", None],
            "brand": ["Bosch", "", ""],
        }
    )
    fields = ["title", "brand", "categories", "description"]  # categories: not a column
    assert item_texts(items, fields) == [
        "Drill & Bits. brand: Bosch. description: Cordless.",
        "description: Only a description",
        "Gloves",
    ]
    assert item_texts(items, fields, separator=" | ", label_fields=False)[0] == "Drill & Bits | Bosch | Cordless."


def test_item_texts_caps_the_joined_text():
    items = pd.DataFrame({"title": ["short"], "description": ["long " * 500]})
    (text,) = item_texts(items, ["title", "description"], max_chars=100)
    assert len(text) <= 100 and text.startswith("short. description: long")


def test_item_texts_without_any_text_field_is_an_error():
    with pytest.raises(DataError, match="none of the text fields.*found \\['item_id', 'name'\\]"):
        item_texts(pd.DataFrame({"item_id": ["a"], "name": ["x"]}), ["title"], source="items.csv")


def test_nan_fields_are_empty():
    items = pd.DataFrame({"title": [math.nan, "ok"], "brand": [None, math.nan]})
    assert item_texts(items, ["title", "brand"]) == ["", "ok"]
