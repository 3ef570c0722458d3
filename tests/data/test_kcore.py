import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from h2rec.data.kcore import kcore_filter

events = st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), max_size=80, unique=True)


@settings(max_examples=60, deadline=None)
@given(events, st.integers(1, 4))
def test_kcore_is_the_largest_k_core(pairs, k):
    df = pd.DataFrame(pairs, columns=["user_id", "item_id"])
    out = kcore_filter(df, k)
    if len(out):
        assert out.groupby("user_id").size().min() >= k
        assert out.groupby("item_id").size().min() >= k
    # idempotent, and nothing outside the result could have been kept: any event whose user
    # and item both survive is in the result (the k-core is closed)
    assert len(kcore_filter(out, k)) == len(out)
    keep = df["user_id"].isin(out["user_id"]) & df["item_id"].isin(out["item_id"])
    assert keep.sum() == len(out)


def test_kcore_cascades():
    # u2 has 2 events; dropping it leaves item b with 1 event, which then drops u1's b
    df = pd.DataFrame({"user_id": ["u0", "u0", "u1", "u1", "u2", "u2"], "item_id": ["a", "c", "a", "c", "b", "c"]})
    out = kcore_filter(df, 2)
    assert set(out["item_id"]) == {"a", "c"} and set(out["user_id"]) == {"u0", "u1"}
