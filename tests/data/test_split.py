import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from h2rec.config import PreprocessConfig
from h2rec.data.split import prepare
from h2rec.data.stats import dataset_stats


@st.composite
def datasets(draw):
    n_items = draw(st.integers(4, 15))
    n_users = draw(st.integers(1, 12))
    rows = []
    for u in range(n_users):
        seq = draw(st.lists(st.integers(0, n_items - 1), min_size=3, max_size=n_items, unique=True))
        rows += [(f"u{u}", f"i{i}", t * 7) for t, i in enumerate(seq)]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "title": "x"})
    return inter, items


CFG = PreprocessConfig(k_core=3, head_share=0.2, short_user_max_len=2, n_buckets=5)


def _prepare(data):
    inter, items = data
    return prepare(inter.astype({"user_id": "string", "item_id": "string"}), items, CFG.model_copy(update={"k_core": 1}))


@settings(max_examples=50, deadline=None)
@given(datasets())
def test_leave_one_out_properties(data):
    prep = _prepare(data)
    inter = prep.interactions
    for _, g in inter.groupby("user"):
        g = g.sort_values("pos")
        assert g["split"].tolist()[-2:] == ["valid", "test"]
        train_items = set(g.loc[g["split"] == "train", "item"])
        test_item = g.loc[g["split"] == "test", "item"].item()
        assert test_item not in train_items
        assert g["pos"].tolist() == list(range(len(g)))


@settings(max_examples=50, deadline=None)
@given(datasets())
def test_popularity_uses_train_only_and_groups_are_exclusive(data):
    prep = _prepare(data)
    inter, items = prep.interactions, prep.items
    train = inter[inter["split"] == "train"]
    expected = train["item"].value_counts().reindex(items["item"], fill_value=0).to_numpy()
    assert (items["train_count"].to_numpy() == expected).all()
    # each test case gets exactly one popularity group, bucket and length group
    cases = inter[inter["split"] == "test"].merge(items, on="item").merge(prep.users, on="user")
    assert len(cases) == inter["user"].nunique()
    assert cases["popularity"].isin(["head", "tail"]).all()
    assert cases["bucket"].between(0, CFG.n_buckets - 1).all()
    assert cases["length_group"].isin(["short", "long"]).all()
    # head items are at least as popular as any tail item
    head = items.loc[items["popularity"] == "head", "train_count"]
    tail = items.loc[items["popularity"] == "tail", "train_count"]
    if len(tail):
        assert head.min() >= tail.max()


def test_chronological_order_by_timestamp():
    inter = pd.DataFrame({"user_id": ["u"] * 4, "item_id": ["a", "b", "c", "d"], "ts": [30, 10, 40, 20]})
    items = pd.DataFrame({"item_id": list("abcd"), "title": "t"})
    prep = prepare(inter.astype("string").astype({"ts": int}), items, CFG.model_copy(update={"k_core": 1}))
    order = prep.interactions.merge(prep.items, on="item").sort_values("pos")["item_id"].tolist()
    assert order == ["b", "d", "a", "c"]
    assert prep.interactions.sort_values("pos")["split"].tolist() == ["train", "train", "valid", "test"]


def test_buckets_have_equal_item_counts_and_stats():
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{i}", t) for u in range(200) for t, i in enumerate(rng.choice(50, 6, replace=False))]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]).astype({"user_id": "string", "item_id": "string"})
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(50)], "title": "t"})
    prep = prepare(inter, items, CFG)
    assert prep.items["bucket"].value_counts().tolist() == [10] * 5
    stats = dataset_stats(prep)
    assert stats["users"] == 200 and stats["items"] == 50 and stats["interactions"] == 1200
    assert stats["head_items"] == 10 and stats["tail_share_of_items"] == 0.8
