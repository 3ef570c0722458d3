"""Hostile inputs: each stops ingest with a message naming the problem, or follows a
documented rule, and never overwrites what an earlier run produced."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from h2rec import paths
from h2rec.config import CustomSource, PreprocessConfig, ValidateConfig
from h2rec.data.adapters import load_source
from h2rec.data.split import prepare
from h2rec.errors import DataError, ValidationFailed
from h2rec.stages import ingest
from h2rec.validation.data_suites import validate_canonical

GOOD_ITEMS = "item_id,title\ni1,One\ni2,Two\ni3,Three\n"


def _ingest_custom(tmp_path, inter_csv: str, items_csv: str = GOOD_ITEMS):
    (tmp_path / "inter.csv").write_text(inter_csv)
    (tmp_path / "items.csv").write_text(items_csv)
    src = CustomSource(interactions=tmp_path / "inter.csv", items=tmp_path / "items.csv")
    inter, items = load_source(src)
    return validate_canonical(inter, items, ValidateConfig(), tmp_path / "report.json")


@pytest.mark.parametrize(
    "bad, expected",
    [
        ("nan", "must hold numbers"),
        ("inf", "must hold numbers"),
        ("1.5", "whole numbers"),
        ("", "must hold numbers"),
    ],
)
def test_bad_timestamps_are_named(tmp_path, bad, expected):
    with pytest.raises(DataError, match=expected):
        _ingest_custom(tmp_path, f"user_id,item_id,timestamp\nu1,i1,1\nu1,i2,{bad}\n")


@pytest.mark.parametrize(
    "rows, expectation",
    [
        ("u1,i1,-10\nu1,i2,5\n", "expect_column_values_to_be_between(ts)"),  # before 1970
        ("u1,i1,99999999999\nu1,i2,5\n", "expect_column_values_to_be_between(ts)"),  # after 2100
        ("u1,i1,1\nu1,i1,1\n", "expect_compound_columns_to_be_unique"),  # duplicated event
        (",i1,1\nu1,i2,2\n", "expect_column_value_lengths_to_be_between(user_id)"),  # empty id
        ("u\x01x,i1,1\nu1,i2,2\n", "expect_column_values_to_not_match_regex(user_id)"),  # control char
        ("u1,i9,1\n", "expect_column_values_to_be_in_set(item_id)"),  # unknown item
    ],
)
def test_bad_events_fail_validation(tmp_path, rows, expectation):
    with pytest.raises(ValidationFailed) as err:
        _ingest_custom(tmp_path, "user_id,item_id,timestamp\n" + rows)
    assert expectation in str(err.value)


def test_duplicated_item_rows_fail(tmp_path):
    with pytest.raises(ValidationFailed, match=r"expect_column_values_to_be_unique\(item_id\)"):
        _ingest_custom(tmp_path, "user_id,item_id,timestamp\nu1,i1,1\n", GOOD_ITEMS + "i1,Again\n")


def test_negative_looking_ids_are_plain_ids(tmp_path):
    # documented rule: ids are opaque strings
    report = _ingest_custom(tmp_path, "user_id,item_id,timestamp\n-5,-1,1\n", "item_id,title\n-1,Minus one\n")
    assert report["success"]


def test_wrong_json_types(tmp_path):
    (tmp_path / "i.json").write_text(json.dumps({"0": [1, {"nested": 2}]}))
    (tmp_path / "m.json").write_text("{}")
    from h2rec.config import ScientificSource

    with pytest.raises(DataError, match="item ids must be integers or strings"):
        load_source(ScientificSource(interactions=tmp_path / "i.json", items=tmp_path / "m.json"))
    (tmp_path / "i.json").write_text(json.dumps([1, 2, 3]))
    with pytest.raises(DataError, match=r"expected a JSON object \{user"):
        load_source(ScientificSource(interactions=tmp_path / "i.json", items=tmp_path / "m.json"))


def test_truncated_gzip_is_named(tmp_path):
    payload = gzip.compress(b'{"0": [1, 2, 3]}' * 1000)
    (tmp_path / "i.json.gz").write_bytes(payload[: len(payload) // 2])
    from h2rec.config import ScientificSource

    with pytest.raises(DataError, match=r"i\.json\.gz: cannot read .*truncated"):
        load_source(ScientificSource(interactions=tmp_path / "i.json.gz", items=tmp_path / "i.json.gz"))


def test_user_with_100k_events_and_10mb_text_are_handled():
    n = 100_000
    inter = pd.DataFrame(
        {"user_id": ["heavy"] * n + ["u2"] * 3, "item_id": [f"i{i}" for i in range(n)] + ["i0", "i1", "i2"],
         "ts": np.r_[np.arange(n), [0, 1, 2]]}
    ).astype({"user_id": "string", "item_id": "string"})
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n)], "title": "t"}).astype("string")
    items.loc[0, "title"] = "x" * 10_000_000
    cfg = PreprocessConfig(k_core=3).model_copy(update={"k_core": 1})
    prep = prepare(inter, items, cfg)
    heavy = prep.interactions[prep.interactions["user"] == 0]
    assert len(heavy) == n and heavy["split"].value_counts()["test"] == 1
    assert len(prep.items.loc[0, "title"]) == 10_000_000  # text is capped later, at embedding


def test_hostile_input_never_overwrites_previous_outputs(project):
    from h2rec.config import load_params

    params = load_params()
    ingest.run(params.data, params.validate_)
    before = paths.CANONICAL_ITEMS.read_bytes()
    src = params.data.source
    meta = json.load(gzip.open(src.items, "rt"))
    first = next(iter(meta))
    meta[first]["title"] = meta[first]["description"] = meta[first]["brand"] = meta[first]["categories"] = ""
    for key in list(meta)[: len(meta) // 10]:
        meta[key] = {"title": "", "description": "", "brand": "", "categories": ""}
    with gzip.open(src.items, "wt") as fh:
        json.dump(meta, fh)
    with pytest.raises(ValidationFailed, match=r"expect_column_values_to_not_be_null\(text\)"):
        ingest.run(params.data, params.validate_)
    assert paths.CANONICAL_ITEMS.read_bytes() == before
