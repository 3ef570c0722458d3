import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from h2rec.sid.sids import dedup_level, sid_meta, sid_table

small_codes = arrays(np.int64, st.tuples(st.integers(0, 60), st.integers(1, 3)), elements=st.integers(0, 3))


@given(small_codes)
def test_dedup_makes_every_tuple_unique(codes):
    extra, counts = dedup_level(codes)
    full = np.column_stack([codes, extra])
    assert len({tuple(r) for r in full.tolist()}) == len(codes)
    # The extra code counts earlier holders of the tuple: first holder 0, next 1, ...
    for i, row in enumerate(codes.tolist()):
        assert extra[i] == sum(r == row for r in codes[:i].tolist())
    assert sum(counts.values()) == len(codes)


@given(small_codes, st.integers(0, 60))
def test_dedup_continues_counting_from_an_existing_table(codes, cut):
    cut = min(cut, len(codes))
    whole, _ = dedup_level(codes)
    first, counts = dedup_level(codes[:cut])
    rest, _ = dedup_level(codes[cut:], counts)
    np.testing.assert_array_equal(np.concatenate([first, rest]), whole)
    assert dedup_level(codes[cut:], counts)[1] is not counts  # the input table is not modified


def test_sid_table_and_meta():
    codes = np.array([[1, 2], [1, 2], [0, 3]])
    extra, _ = dedup_level(codes)
    table = sid_table(["a", "b", "c"], codes, extra)
    assert list(table.columns) == ["item", "item_id", "code_0", "code_1", "code_2"]
    assert table["item"].tolist() == [1, 2, 3] and str(table["item"].dtype) == "int32"
    assert all(str(table[c].dtype) == "int32" for c in ["code_0", "code_1", "code_2"])
    assert table["code_2"].tolist() == [0, 1, 0]
    meta = sid_meta(2, 4, "rqkmeans", extra, "m")
    assert meta["cardinalities"] == [4, 4, 2] and meta["dedup"] and meta["levels"] == 2
    assert sid_meta(2, 4, "rqkmeans", None, "m")["cardinalities"] == [4, 4]
