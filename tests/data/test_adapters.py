import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h2rec.config import AmazonRawSource, AtomicSource, BeautySource, CustomSource, ScientificSource, load_params
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
        {"asin": f"A{i}", "title": f"Cream &amp; Lotion {i}", "categories": [["Beauty", "Skin"]], "brand": "B"} for i in range(4)
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


def test_amazon_raw_counts_a_repeated_review_at_its_earliest_time(tmp_path):
    later_first = {"reviewerID": "u0", "asin": "A0", "unixReviewTime": 1_500_000_000}  # later, but first in the file
    _write_jsonl(tmp_path / "reviews.json.gz", [later_first, *_raw_reviews()])
    _write_jsonl(tmp_path / "meta.json.gz", [{"asin": f"A{i}", "title": f"T{i}"} for i in range(4)])
    inter, _ = load_source(AmazonRawSource(reviews=tmp_path / "reviews.json.gz", meta=tmp_path / "meta.json.gz", k_core=4))
    first = [r for r in _raw_reviews() if (r["reviewerID"], r["asin"]) == ("u0", "A0")][0]["unixReviewTime"]
    assert inter.loc[(inter["user_id"] == "u0") & (inter["item_id"] == "A0"), "ts"].tolist() == [first]


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
    with pytest.raises(DataError, match=r"inter\.csv.*'timestamp' must hold numbers .* or ISO-8601.*yesterday.*lines \[3\]"):
        load_source(src)


def test_custom_iso_timestamps_become_utc_unix_seconds(tmp_path):
    # no zone = UTC; "Z" and offsets are converted; both date-time separators
    src = _custom(
        tmp_path,
        "user_id,item_id,timestamp\n"
        "u1,i1,2020-01-01 10:00:00\n"
        "u1,i2,2020-01-02T10:00:00Z\n"
        "u2,i1,2020-01-02T12:00:00+02:00\n"
        "u2,i2,2020-01-03\n",
    )
    inter, _ = load_source(src)
    assert inter["ts"].tolist() == [1577872800, 1577959200, 1577959200, 1578009600]
    assert inter["ts"].dtype == "int64"


def test_custom_datetime_parquet_columns_naive_and_zoned(tmp_path):
    src = _custom(tmp_path, "user_id,item_id,timestamp\nu1,i1,1\nu1,i2,2\n")
    naive = pd.DataFrame(
        {"user_id": ["u1", "u1"], "item_id": ["i1", "i2"], "timestamp": pd.to_datetime(["2020-01-01 10:00", "2020-01-02 10:00"])}
    )
    naive.to_parquet(tmp_path / "naive.parquet")
    zoned = naive.assign(timestamp=naive["timestamp"].dt.tz_localize("Europe/Berlin"))
    zoned.to_parquet(tmp_path / "zoned.parquet")
    for name, expected in (("naive", [1577872800, 1577959200]), ("zoned", [1577869200, 1577955600])):
        inter, _ = load_source(src.model_copy(update={"interactions": tmp_path / f"{name}.parquet"}))
        assert inter["ts"].tolist() == expected, name


def test_custom_bad_date_times_name_line_and_format(tmp_path):
    src = _custom(tmp_path, "user_id,item_id,timestamp\nu1,i1,2020-01-01 10:00:00\nu1,i2,01/02/2020 10:00\n")
    with pytest.raises(
        DataError,
        match=r"inter\.csv: column 'timestamp' holds date-times, but 1 value\(s\) are not ISO-8601.*'01/02/2020 10:00'.*lines \[3\]",
    ):
        load_source(src)


# -- RecBole atomic files, shaped like ml-100k ---------------------------------------------------
ML100K_INTER = (
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "196\t242\t3\t881250949\n"
    "186\t302\t3\t891717742.5\n"
    "196\t302\t4\t881250950\n"
    "22\t377\t1\t878887116\n"
)
ML100K_ITEM = (
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\tprice:float\n"
    "242\tKolya\t1996\tComedy\t1.0\n"
    "302\tL.A. Confidential\t1997\tCrime Film-Noir Mystery Thriller\t2.0\n"
    "377\tHeavyweights\t1994\tChildren Comedy\t3.0\n"
)


def _atomic(tmp_path, inter=ML100K_INTER, item=ML100K_ITEM, **kw):
    (tmp_path / "ml.inter").write_text(inter)
    if item is not None:
        (tmp_path / "ml.item").write_text(item)
    return AtomicSource(inter=tmp_path / "ml.inter", item=tmp_path / "ml.item" if item is not None else None, **kw)


def test_atomic_ml100k_shape(tmp_path):
    inter, items = load_source(_atomic(tmp_path))
    assert inter.to_dict("list") == {
        "user_id": ["196", "186", "196", "22"],
        "item_id": ["242", "302", "302", "377"],
        "ts": [881250949, 891717742, 881250950, 878887116],  # float seconds, fractions dropped
    }
    # default text: every token / token_seq field but the item id; floats are not text
    assert list(items.columns) == ["item_id", "movie_title", "release_year", "class"]
    assert items.set_index("item_id").loc["302", "class"] == "Crime Film-Noir Mystery Thriller"


def test_atomic_chosen_fields_and_no_item_file(tmp_path):
    # other field names, no timestamp (the file's order), no .item (no text)
    src = _atomic(tmp_path, "uid:token\tiid:token\nu1\ti1\nu1\ti2\n", None, user_col="uid", item_col="iid", time_col=None)
    events, items = load_source(src)
    assert events["ts"].tolist() == [0, 1] and items["item_id"].tolist() == ["i1", "i2"]
    _, items = load_source(_atomic(tmp_path, text_cols=["movie_title"]))
    assert list(items.columns) == ["item_id", "movie_title"]


def test_atomic_errors_name_file_and_field(tmp_path):
    with pytest.raises(DataError, match=r"ml\.inter: no field time_col: 'timestamp'.*'user_id:token'.*Set these keys"):
        load_source(_atomic(tmp_path, "user_id:token\titem_id:token\nu\ti\n"))
    with pytest.raises(
        DataError, match=r"ml\.inter: header field 'rating:int' has an unknown type 'int'.*token, token_seq, float"
    ):
        load_source(_atomic(tmp_path, "user_id:token\titem_id:token\trating:int\nu\ti\t1\n"))
    with pytest.raises(DataError, match=r"ml\.inter: header field 'user_id' has no type"):
        load_source(_atomic(tmp_path, "user_id\titem_id:token\nu\ti\n"))
    with pytest.raises(DataError, match=r"ml\.item: no field text_cols\[0\]: 'genre'"):
        load_source(_atomic(tmp_path, text_cols=["genre"]))


def test_atomic_source_runs_through_ingest_and_split(tmp_path, monkeypatch):
    """Five users x four items, every user rating every item: the canonical tables validate
    and split like any other dataset."""
    from h2rec.config import DataConfig, PreprocessConfig, ValidateConfig
    from h2rec.stages import ingest, split

    monkeypatch.chdir(tmp_path)
    rows = [f"u{u}\tm{i}\t4\t{880000000 + 100 * u + i}" for u in range(5) for i in range(4)]
    inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "\n".join(rows) + "\n"
    item = "item_id:token\tmovie_title:token_seq\n" + "".join(f"m{i}\tMovie {i}\n" for i in range(4))
    data = DataConfig(dataset="ml", sources={"ml": _atomic(tmp_path, inter, item)})
    assert ingest.run(data, ValidateConfig()) == {"interactions": 20, "items": 4}
    prepared, _ = split.run(PreprocessConfig(k_core=3))
    assert len(prepared.users) == 5 and len(prepared.items) == 4
    assert prepared.items["movie_title"].tolist() == [f"Movie {i}" for i in range(4)]


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


def test_atomic_without_item_file_is_stopped_by_the_text_check(tmp_path, monkeypatch):
    from h2rec.config import DataConfig, ValidateConfig
    from h2rec.errors import ValidationFailed
    from h2rec.stages import ingest

    monkeypatch.chdir(tmp_path)
    data = DataConfig(dataset="ml", sources={"ml": _atomic(tmp_path, item=None)})
    with pytest.raises(ValidationFailed, match=r"items: expect_column_values_to_not_be_null\(text\): 3 bad row\(s\) of 3"):
        ingest.run(data, ValidateConfig())
    assert ingest.run(data, ValidateConfig(min_text_share=0.0)) == {"interactions": 4, "items": 3}
