import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h2rec.config import AmazonRawSource, BeautySource, CustomSource, ScientificSource, load_params
from h2rec.data.adapters import load_source
from h2rec.errors import DataError
from tests.conftest import ROOT, write_scientific_slice

CANONICAL_INTER = ["user_id", "item_id", "ts"]


def test_scientific_real_slice(tmp_path):
    inter_path, items_path = write_scientific_slice(tmp_path, n_users=50)
    inter, items = load_source(ScientificSource(interactions=inter_path, items=items_path))
    assert list(inter.columns) == CANONICAL_INTER
    assert inter["user_id"].nunique() == 50
    assert {"title", "description", "brand", "categories"} <= set(items.columns)
    # order within a user is the file's order
    first = inter[inter["user_id"] == inter["user_id"].iloc[0]]
    assert first["ts"].tolist() == list(range(len(first)))
    assert set(inter["item_id"]) <= set(items["item_id"])


def test_beauty_shipped_files():
    inter, items = load_source(load_params(ROOT / "params.yaml").data.sources["beauty"])
    assert (inter["user_id"].nunique(), items.shape[0], len(inter)) == (22363, 12101, 198502)
    assert items["title"].str.len().gt(0).sum() == 12101 - 7  # SOURCE.md: 7 empty titles


def _write_jsonl(path: Path, records: list, literal: bool = False) -> None:
    lines = [repr(r) if literal else json.dumps(r) for r in records]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


def _raw_reviews(n_users=6, n_items=4):
    # every user reviews every item: a complete 4-core; u5 reviews only one item -> filtered
    reviews = [
        {"reviewerID": f"u{u}", "asin": f"A{i}", "unixReviewTime": 1_400_000_000 + 10 * i + u, "overall": 5.0}
        for u in range(n_users - 1)
        for i in range(n_items)
    ]
    reviews.append({"reviewerID": "u5", "asin": "A0", "unixReviewTime": 1_400_000_000})
    return reviews


def test_amazon_raw_2014_literal_meta(tmp_path):
    _write_jsonl(tmp_path / "reviews.json.gz", _raw_reviews())
    meta = [
        {"asin": f"A{i}", "title": f"Cream &amp; Lotion {i}", "categories": [["Beauty", "Skin"]], "brand": "B"}
        for i in range(4)
    ] + [{"asin": "UNUSED", "title": "never reviewed"}]
    _write_jsonl(tmp_path / "meta.json.gz", meta, literal=True)  # 2014 meta: Python literals
    src = AmazonRawSource(reviews=tmp_path / "reviews.json.gz", meta=tmp_path / "meta.json.gz", k_core=4)
    inter, items = load_source(src)
    assert sorted(inter["user_id"].unique()) == [f"u{u}" for u in range(5)]
    assert len(inter) == 20
    assert sorted(items["item_id"]) == ["A0", "A1", "A2", "A3"]
    assert items.loc[items["item_id"] == "A0", "categories"].item() == "Beauty, Skin"


def test_amazon_raw_2018_json_meta_uncompressed(tmp_path):
    reviews = tmp_path / "Scientific_5.json"
    reviews.write_text("\n".join(json.dumps(r) for r in _raw_reviews()) + "\n")
    meta = tmp_path / "meta.json"
    meta.write_text(
        "\n".join(
            json.dumps({"asin": f"A{i}", "title": f"T{i}", "category": ["Lab", "Glass"], "description": ["a", "b"]})
            for i in range(4)
        )
    )
    inter, items = load_source(AmazonRawSource(reviews=reviews, meta=meta, k_core=4))
    assert len(inter) == 20
    row = items.set_index("item_id").loc["A2"]
    assert (row["categories"], row["description"]) == ("Lab, Glass", "a, b")


def test_amazon_raw_missing_field(tmp_path):
    _write_jsonl(tmp_path / "r.json.gz", [{"reviewerID": "u", "asin": "a"}])
    _write_jsonl(tmp_path / "m.json.gz", [{"asin": "a"}])
    with pytest.raises(DataError, match="unixReviewTime"):
        load_source(AmazonRawSource(reviews=tmp_path / "r.json.gz", meta=tmp_path / "m.json.gz"))


def _custom(tmp_path, inter_csv: str, items_csv: str = "item_id,title\ni1,One\ni2,Two\n", **kw):
    (tmp_path / "inter.csv").write_text(inter_csv)
    (tmp_path / "items.csv").write_text(items_csv)
    return CustomSource(interactions=tmp_path / "inter.csv", items=tmp_path / "items.csv", **kw)


def test_custom_csv_and_parquet(tmp_path):
    src = _custom(tmp_path, "uid,iid,when\nu1,i1,100\nu1,i2,200\n", user_col="uid", item_col="iid", time_col="when")
    inter, items = load_source(src)
    assert inter.to_dict("list") == {"user_id": ["u1", "u1"], "item_id": ["i1", "i2"], "ts": [100, 200]}
    pd.read_csv(tmp_path / "inter.csv").to_parquet(tmp_path / "inter.parquet")
    src2 = src.model_copy(update={"interactions": tmp_path / "inter.parquet"})
    assert load_source(src2)[0]["ts"].tolist() == [100, 200]


def test_custom_missing_column_names_file_and_column(tmp_path):
    src = _custom(tmp_path, "user_id,item_id\nu1,i1\n")
    with pytest.raises(DataError, match=r"inter\.csv.*missing column.*timestamp"):
        load_source(src)


def test_custom_non_numeric_timestamp(tmp_path):
    src = _custom(tmp_path, "user_id,item_id,timestamp\nu1,i1,100\nu1,i2,yesterday\n")
    with pytest.raises(DataError, match=r"inter\.csv.*'timestamp' must be numeric.*yesterday.*lines \[3\]"):
        load_source(src)


def test_empty_file(tmp_path):
    src = _custom(tmp_path, "")
    with pytest.raises(DataError, match=r"inter\.csv: file is empty"):
        load_source(src)


def test_non_utf8_file(tmp_path):
    src = _custom(tmp_path, "user_id,item_id,timestamp\nu1,i1,1\n")
    (tmp_path / "items.csv").write_bytes("item_id,title\ni1,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"items\.csv: not valid UTF-8 at byte"):
        load_source(src)


def test_malformed_json(tmp_path):
    (tmp_path / "inter.json").write_text('{"0": [1, 2,')
    (tmp_path / "items.json").write_text("{}")
    with pytest.raises(DataError, match=r"inter\.json: malformed JSON at line 1"):
        load_source(ScientificSource(interactions=tmp_path / "inter.json", items=tmp_path / "items.json"))


def test_missing_file():
    with pytest.raises(DataError, match="nope.tsv: file not found"):
        load_source(BeautySource(sequences=ROOT / "datasets/amazon-beauty/user_sequence.txt.gz", titles=Path("nope.tsv")))


ids = st.text(alphabet="abcdefgh0123456789", min_size=1, max_size=6)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(ids, st.lists(ids, min_size=1, max_size=8, unique=True), min_size=1, max_size=10))
def test_scientific_adapter_roundtrips_any_sequences(tmp_path_factory, sequences):
    d = tmp_path_factory.mktemp("sci")
    (d / "i.json").write_text(json.dumps(sequences))
    all_items = {i for seq in sequences.values() for i in seq}
    (d / "m.json").write_text(json.dumps({i: {"title": f"t{i}"} for i in all_items}))
    inter, items = load_source(ScientificSource(interactions=d / "i.json", items=d / "m.json"))
    assert len(inter) == sum(map(len, sequences.values()))
    for user, seq in sequences.items():
        rows = inter[inter["user_id"] == user].sort_values("ts")
        assert rows["item_id"].tolist() == seq
    assert set(items["item_id"]) == all_items
