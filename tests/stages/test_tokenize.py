import csv
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from h2rec import cli
from h2rec.config import EmbedConfig, TokenizeConfig
from h2rec.errors import ConfigError, DataError, ValidationFailed
from h2rec.sid.loading import load_quantizer
from h2rec.sid.rqkmeans import RQKMeans
from h2rec.stages import tokenize
from tests.conftest import BEAUTY, ROOT
from tests.sid.fakes import CountingEncoder
from tests.stages.test_embed import run as run_embed
from tests.stages.test_embed import write_items

SMALL = TokenizeConfig(levels=2, codebook_size=8, threads=1)
TITLES = [f"topic{k % 6} product {k // 6} {'x' * (k % 3)}" for k in range(120)]


@pytest.fixture
def fitted(tmp_path):
    """Fake-encoded embeddings of 120 items, tokenized with 2 levels x 8 codes + dedup."""
    items = write_items(tmp_path / "prepared" / "items.parquet", TITLES)
    enc = CountingEncoder()
    run_embed(tmp_path, enc)
    metrics = run_tokenize(tmp_path, SMALL)
    return tmp_path, items, enc, metrics


def run_tokenize(tmp_path, cfg):
    return tokenize.run(
        cfg,
        features_dir=tmp_path / "features",
        items_path=tmp_path / "prepared" / "items.parquet",
        out_dir=tmp_path / "sid",
        metrics_path=tmp_path / "metrics" / "tokenizer.json",
        reports_dir=tmp_path / "reports" / "sid",
        report_path=tmp_path / "reports" / "validation" / "sids.json",
    )


def cold_start(tmp_path, items, enc, cfg=EmbedConfig()):
    return tokenize.assign_new_items(items, cfg, tmp_path / "sid", tmp_path / "features", enc, tmp_path / "cache")


def test_outputs(fitted):
    tmp_path, items, enc, metrics = fitted
    sids = pd.read_parquet(tmp_path / "sid" / "sids.parquet")
    assert list(sids.columns) == ["item", "item_id", "code_0", "code_1", "code_2"]
    assert sids["item"].tolist() == list(range(1, 121)) and sids["item_id"].tolist() == items["item_id"].tolist()
    assert all(str(sids[c].dtype) == "int32" for c in ["item", "code_0", "code_1", "code_2"])
    assert not sids[["code_0", "code_1", "code_2"]].duplicated().any()
    meta = json.loads((tmp_path / "sid" / "sid_meta.json").read_text())
    assert meta["cardinalities"][:2] == [8, 8] and meta["cardinalities"][2] == sids["code_2"].max() + 1
    assert meta["method"] == "rqkmeans" and meta["dedup"] and meta["levels"] == 2 and meta["model_key"] == enc.key
    q = load_quantizer(tmp_path / "sid" / "quantizer", model_key=enc.key, levels=2)
    assert [c.shape for c in q.codebooks] == [(8, enc.dim)] * 2
    for key in [
        "level_0_utilisation",
        "level_1_entropy_bits",
        "level_1_entropy_norm",
        "unique_tuple_share",
        "largest_collision_group",
        "rel_recon_error",
        "fit_seconds",
        "dedup_cardinality",
    ]:
        assert key in metrics
    assert json.loads((tmp_path / "metrics" / "tokenizer.json").read_text()) == metrics
    usage = pd.read_csv(tmp_path / "reports" / "sid" / "code_usage.csv")
    assert list(usage.columns) == ["rank", "level_0", "level_1"] and usage["level_0"].sum() == 120
    assert (tmp_path / "reports" / "sid" / "code_usage.png").stat().st_size > 1000


def test_refit_is_deterministic(fitted):
    tmp_path = fitted[0]
    before = (
        (tmp_path / "sid" / "sids.parquet").read_bytes(),
        (tmp_path / "sid" / "quantizer" / "weights.safetensors").read_bytes(),
    )
    run_tokenize(tmp_path, SMALL)
    after = (
        (tmp_path / "sid" / "sids.parquet").read_bytes(),
        (tmp_path / "sid" / "quantizer" / "weights.safetensors").read_bytes(),
    )
    assert before == after


def test_cold_start_reproduces_fitted_codes_and_continues_dedup(fitted):
    tmp_path, items, enc, _ = fitted
    sids = pd.read_parquet(tmp_path / "sid" / "sids.parquet")
    picked = items.iloc[[5, 17, 60]]
    new = cold_start(tmp_path, picked[["item_id", "title"]], enc)
    fitted_rows = sids.iloc[[5, 17, 60]]
    np.testing.assert_array_equal(new[["code_0", "code_1"]], fitted_rows[["code_0", "code_1"]])
    holders = sids.groupby(["code_0", "code_1"]).size()
    for _, row in new.iterrows():  # the next free dedup code of that tuple
        assert row["code_2"] == holders[(row["code_0"], row["code_1"])]
    # Two new items with the same text: the second counts the first too.
    twins = cold_start(tmp_path, pd.DataFrame({"item_id": ["n1", "n2"], "title": ["topic2 brand new thing"] * 2}), enc)
    assert twins["code_2"].tolist()[1] == twins["code_2"].tolist()[0] + 1
    assert (twins[["code_0", "code_1"]].to_numpy() < 8).all()


def test_cold_start_refuses_another_model_or_changed_text_params(fitted):
    tmp_path, items, enc, _ = fitted
    with pytest.raises(DataError, match="fitted on embeddings of model fake-encoder-0001"):
        cold_start(tmp_path, items[["item_id", "title"]], CountingEncoder(key="other-model"))
    with pytest.raises(ConfigError, match="embed changed since the SIDs were fitted.*separator"):
        cold_start(tmp_path, items[["item_id", "title"]], enc, EmbedConfig(separator=" | "))
    with pytest.raises(DataError, match="needs an 'item_id' column"):
        cold_start(tmp_path, items[["title"]], enc)


def test_failed_validation_overwrites_nothing(fitted, monkeypatch):
    tmp_path = fitted[0]
    before = {p: p.read_bytes() for p in (tmp_path / "sid").rglob("*") if p.is_file()}
    good_encode = RQKMeans.encode
    monkeypatch.setattr(RQKMeans, "encode", lambda self, x: good_encode(self, x) + 1)  # 8 is out of range
    with pytest.raises(ValidationFailed, match="code_0"):
        run_tokenize(tmp_path, SMALL.model_copy(update={"seed": 1}))
    assert {p: p.read_bytes() for p in (tmp_path / "sid").rglob("*") if p.is_file()} == before


def test_rqvae_method(fitted):
    tmp_path = fitted[0]
    cfg = SMALL.model_copy(
        update={
            "method": "rqvae",
            "rqvae": SMALL.rqvae.model_copy(update={"epochs": 3, "hidden": [32], "latent_dim": 8, "batch_size": 64}),
        }
    )
    metrics = run_tokenize(tmp_path, cfg)
    assert metrics["rqvae_epochs"] == 3
    assert json.loads((tmp_path / "sid" / "sid_meta.json").read_text())["method"] == "rqvae"


def test_cli_embed_tokenize_and_cold_start_with_real_minilm(tmp_path, monkeypatch, capsys):
    """The three commands as a user runs them, on 80 real Beauty titles."""
    titles = pd.read_csv(BEAUTY / "item_titles.tsv", sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False).head(80)
    write_items(tmp_path / "data" / "prepared" / "items.parquet", titles["title"].tolist())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["embed"]["threads"] = params["tokenize"]["threads"] = 1
    params["tokenize"].update(levels=2, codebook_size=8)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)

    assert cli.main(["embed"]) == 0
    assert cli.main(["tokenize"]) == 0
    assert "80 items -> data/sid/sids.parquet" in capsys.readouterr().out
    sids = pd.read_parquet("data/sid/sids.parquet")

    new = pd.DataFrame(
        {
            "item_id": ["i3", "i42", "brand-new"],
            "title": [titles["title"][3], titles["title"][42], "Rose water facial toner &amp; mist"],
        }
    )
    new.to_csv("new_items.csv", index=False)
    assert cli.main(["tokenize", "--items", "new_items.csv", "--out", "new_sids.csv"]) == 0
    shown = capsys.readouterr().out
    assert "brand-new" in shown and "Semantic IDs of 3 new item(s) -> new_sids.csv" in shown
    got = pd.read_csv("new_sids.csv", dtype={"item_id": str})
    np.testing.assert_array_equal(got[["code_0", "code_1"]].to_numpy()[:2], sids.iloc[[3, 42]][["code_0", "code_1"]].to_numpy())
    # Without the embedding cache the texts are re-encoded, alone in their batch: same codes.
    import shutil

    shutil.rmtree("data/cache")
    assert cli.main(["tokenize", "--items", "new_items.csv"]) == 0
    again = pd.read_parquet("new_items_sids.parquet")
    np.testing.assert_array_equal(again.drop(columns="item_id").to_numpy(), got.drop(columns="item_id").to_numpy())
    assert cli.main(["tokenize", "--out", "x.csv"]) == 2  # --out without --items
