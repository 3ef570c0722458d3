import json

import pandas as pd
import pytest

from h2rec.config import PreprocessConfig, ValidateConfig
from h2rec.data.split import Prepared, prepare
from h2rec.errors import ValidationFailed
from h2rec.validation.data_suites import validate_canonical, validate_split

CFG = ValidateConfig()


def _tables():
    inter = pd.DataFrame(
        {"user_id": ["u1"] * 3 + ["u2"] * 3, "item_id": ["a", "b", "c", "a", "c", "b"], "ts": [1, 2, 3, 1, 2, 3]}
    ).astype({"user_id": "string", "item_id": "string"})
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["A", "B", "C"]}).astype("string")
    return inter, items


def test_clean_tables_pass(tmp_path):
    inter, items = _tables()
    report = validate_canonical(inter, items, CFG, tmp_path / "r.json")
    assert report["success"] and json.loads((tmp_path / "r.json").read_text())["success"]


def test_item_absent_from_catalogue_names_expectation_count_and_example(tmp_path):
    inter, items = _tables()
    inter.loc[4, "item_id"] = "zzz-unknown"
    with pytest.raises(ValidationFailed) as err:
        validate_canonical(inter, items, CFG, tmp_path / "r.json")
    msg = str(err.value)
    assert "expect_column_values_to_be_in_set(item_id)" in msg
    assert "1 bad row(s) of 6" in msg and "zzz-unknown" in msg
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["success"] is False


def test_duplicates_timestamps_and_missing_text(tmp_path):
    inter, items = _tables()
    inter = pd.concat([inter, inter.iloc[[0]]], ignore_index=True)
    inter.loc[1, "ts"] = -5
    items.loc[0, "title"] = ""
    with pytest.raises(ValidationFailed) as err:
        validate_canonical(inter, items, CFG, tmp_path / "r.json")
    msg = str(err.value)
    assert "expect_compound_columns_to_be_unique" in msg
    assert "expect_column_values_to_be_between(ts)" in msg
    assert "expect_column_values_to_not_be_null(text)" in msg  # 1 of 3 empty < 95%


def test_split_suite_catches_a_broken_split(tmp_path):
    inter, items = _tables()
    third = inter.iloc[:3].assign(user_id="u3")
    inter = pd.concat([inter, third], ignore_index=True)
    cfg = PreprocessConfig(k_core=3)
    prep = prepare(inter, items, cfg)
    assert validate_split(prep, cfg, tmp_path / "s.json")["success"]
    broken = prep.interactions.copy()
    broken.loc[broken.index[0], "split"] = "test"  # two test events for user 0
    with pytest.raises(ValidationFailed, match=r"users: expect_column_values_to_be_between\(n_test\): 1 bad row"):
        validate_split(Prepared(broken, prep.items, prep.users), cfg, tmp_path / "s.json")
