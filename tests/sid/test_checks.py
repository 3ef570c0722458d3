import numpy as np
import pandas as pd
import pytest

from h2rec.errors import ValidationFailed
from h2rec.sid.checks import validate_embeddings, validate_sids
from h2rec.sid.sids import dedup_level, sid_table

ITEMS = pd.DataFrame({"item": np.arange(1, 5, dtype=np.int32), "item_id": ["a", "b", "c", "d"]})


def unit(n, dim=8):
    x = np.random.default_rng(0).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_good_embeddings_pass(tmp_path):
    validate_embeddings(unit(4), ["a", "b", "c", "d"], ITEMS, 8, tmp_path / "r.json")
    assert (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    "vectors, ids, dim, message",
    [
        (np.where(np.eye(4, 8, dtype=bool), np.nan, unit(4)), list("abcd"), 8, "finite"),
        (unit(4), list("abcd"), 16, "dim"),
        (unit(4) * 2, list("abcd"), 8, "norm"),
        (unit(3), list("abc"), 8, "ExpectTableRowCountToEqual|row_count"),
        (unit(4), list("abdc"), 8, "item_id_matches"),
    ],
)
def test_bad_embeddings_fail(tmp_path, vectors, ids, dim, message):
    with pytest.raises(ValidationFailed, match=message):
        validate_embeddings(vectors, ids, ITEMS, dim, tmp_path / "r.json")


def good_table(dedup=True):
    codes = np.array([[0, 1], [0, 1], [2, 3], [3, 3]])
    extra = dedup_level(codes)[0] if dedup else None
    return sid_table(list("abcd"), codes, extra), [4, 4, 2] if dedup else [4, 4]


def test_good_sid_table_passes(tmp_path):
    table, card = good_table()
    validate_sids(table, ITEMS, card, True, tmp_path / "r.json")


def test_sid_table_failures(tmp_path):
    table, card = good_table()
    out_of_range = table.assign(code_1=table["code_1"].replace(3, 4))
    with pytest.raises(ValidationFailed, match=r"code_1.*2 bad row"):
        validate_sids(out_of_range, ITEMS, card, True, tmp_path / "r.json")
    with pytest.raises(ValidationFailed, match="row_count|RowCount"):
        validate_sids(table.iloc[:3], ITEMS, card, True, tmp_path / "r.json")
    table, card = good_table(dedup=False)
    with pytest.raises(ValidationFailed, match="compound_columns_to_be_unique|CompoundColumns"):
        validate_sids(table, ITEMS, card, True, tmp_path / "r.json")
    validate_sids(table, ITEMS, card, False, tmp_path / "r.json")  # without dedup, collisions are allowed
