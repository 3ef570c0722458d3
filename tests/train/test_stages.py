"""The train and evaluate stages end to end on a small prepared dataset (no MLflow)."""

import json
from pathlib import Path

import pytest
import yaml

from h2rec import cli
from h2rec.config import BackboneConfig, EvaluateConfig, TrackingConfig, TrainConfig
from h2rec.errors import ConfigError
from h2rec.io import write_parquet
from h2rec.paths import Layout
from h2rec.stages import evaluate, train
from tests.conftest import PLAIN_START, ROOT
from tests.train.toy import frames, patterned_sequences

SMALL = BackboneConfig(max_len=10, hidden=16, layers=1, heads=1, ffn=32, dropout=0.1, attn_dropout=0.1)


def small_sasrec(epochs: int) -> TrainConfig:
    """A SASRec that trains in seconds on the toy data, untracked, its HID table random (no text here)."""
    return TrainConfig(
        model="sasrec",
        epochs=epochs,
        batch_size=16,
        progress=False,
        backbone=SMALL,
        tracking=TrackingConfig(enabled=False),
        **PLAIN_START,
    )


def write_prepared(folder: Path, seed: int = 0) -> Path:
    inter, items, users = frames(patterned_sequences(80, 60, seed=seed), n_items=60)
    write_parquet(inter, folder / "interactions.parquet")
    write_parquet(items, folder / "items.parquet")
    write_parquet(users, folder / "users.parquet")
    return folder


def test_train_then_evaluate_writes_every_output(tmp_path, capsys):
    prepared = write_prepared(tmp_path / "prepared")
    cfg = small_sasrec(epochs=2)
    state = train.run(
        cfg,
        layout=Layout(prepared=prepared),
        out_dir=tmp_path / "model",
        metrics_path=tmp_path / "train.json",
        history_path=tmp_path / "history.csv",
    )
    assert state.epoch == 2 and (tmp_path / "model" / "best.pt").exists() and (tmp_path / "model" / "last.pt").exists()
    assert json.loads((tmp_path / "train.json").read_text())["epochs"] == 2
    assert (tmp_path / "history.csv").read_text().splitlines()[0].startswith("epoch,")

    metrics = evaluate.run(
        EvaluateConfig(sampled_negatives=20),
        model_dir=tmp_path / "model",
        layout=Layout(prepared=prepared),
        metrics_path=tmp_path / "eval.json",
        plots_dir=tmp_path / "plots",
        reports_dir=tmp_path / "reports",
    )
    written = json.loads((tmp_path / "eval.json").read_text())
    assert (written.pop("split"), written.pop("model_run_id")) == ("test", "")  # this training was not tracked
    assert written == pytest.approx(metrics)
    assert "full/tail/ndcg_10" in metrics and "sampled20/head/hr_10" in metrics
    rows = (tmp_path / "plots" / "full.csv").read_text().splitlines()
    assert rows[0].startswith("group,users,hr_5,ndcg_5") and rows[1].startswith("overall,80,")
    assert (tmp_path / "plots" / "sampled.csv").exists()
    assert (tmp_path / "reports" / "head_tail.png").stat().st_size > 1000
    assert (tmp_path / "reports" / "buckets.png").stat().st_size > 1000
    table = capsys.readouterr().out
    assert "overall" in table and "head" in table and "tail" in table and "sampled20 HR@10" in table


def test_evaluating_a_model_on_other_data_is_refused(tmp_path):
    cfg = small_sasrec(epochs=1)
    train.run(
        cfg,
        layout=Layout(prepared=write_prepared(tmp_path / "a")),
        out_dir=tmp_path / "model",
        metrics_path=tmp_path / "t.json",
        history_path=tmp_path / "h.csv",
    )
    with pytest.raises(ConfigError, match="data: checkpoint"):
        evaluate.run(
            EvaluateConfig(),
            model_dir=tmp_path / "model",
            layout=Layout(prepared=write_prepared(tmp_path / "b", seed=1)),
            metrics_path=tmp_path / "e.json",
            plots_dir=tmp_path,
            reports_dir=tmp_path,
        )


def test_cli_commands_read_their_sections(tmp_path, monkeypatch):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"] = {
        "model": "sasrec",
        "epochs": 1,
        "batch_size": 16,
        "progress": False,
        "tracking": {"enabled": False},
        "backbone": SMALL.model_dump(),
        **PLAIN_START,
    }
    params["evaluate"] = {"sampled_negatives": 10}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_prepared(tmp_path / "data" / "prepared")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train"]) == 0
    assert cli.main(["evaluate"]) == 0
    assert "sampled10/overall/hr_10" in json.loads(Path("metrics/eval.json").read_text())
    assert Path("models/recommender/best.pt").exists() and Path("metrics/eval/full.csv").exists()
    assert cli.main(["train", "--resume"]) == 0  # finished: nothing left to do, no error


def test_a_trained_llm_esr_is_evaluated_with_its_frozen_text_view(tmp_path):
    """LLM-ESR's text view is structure, not initialisation: rebuilding it reads the embeddings."""
    import numpy as np

    from h2rec.config import LLMESRConfig
    from h2rec.sid.features import save_embeddings

    prepared = write_prepared(tmp_path / "prepared")
    layout = Layout(prepared=prepared, features=tmp_path / "features")
    text = np.random.default_rng(0).standard_normal((60, 12)).astype(np.float32)
    save_embeddings(layout.item_embeddings, [f"i{i}" for i in range(1, 61)], text, "toy")
    cfg = TrainConfig(
        model="llm_esr",
        epochs=1,
        batch_size=16,
        progress=False,
        backbone=SMALL,
        llm_esr=LLMESRConfig(neighbours=2),
        tracking=TrackingConfig(enabled=False),
    )
    train.run(cfg, layout=layout, out_dir=tmp_path / "model", metrics_path=tmp_path / "t.json", history_path=tmp_path / "h.csv")
    metrics = evaluate.run(
        EvaluateConfig(sampled_negatives=20),
        model_dir=tmp_path / "model",
        layout=layout,
        metrics_path=tmp_path / "eval.json",
        plots_dir=tmp_path / "plots",
        reports_dir=tmp_path / "reports",
        track=False,
    )
    assert 0 <= metrics["full/overall/ndcg_10"] <= 1


def test_a_checkpoint_from_before_a_new_setting_still_loads_at_that_settings_default(tmp_path):
    import json as _json

    import torch

    from h2rec.train import checkpoint
    from h2rec.train.inputs import load_trained

    prepared = write_prepared(tmp_path / "prepared")
    cfg = small_sasrec(epochs=1)
    train.run(
        cfg,
        layout=Layout(prepared=prepared),
        out_dir=tmp_path / "m",
        metrics_path=tmp_path / "t.json",
        history_path=tmp_path / "h.csv",
    )
    path = tmp_path / "m" / checkpoint.BEST
    ckpt = torch.load(path, weights_only=True)
    identity = _json.loads(ckpt["identity"])
    for stored in (identity["config"], written := _json.loads(ckpt["config"])):  # keys added later
        del stored["h2rec"]["mask_detach"], stored["logit_adjustment"], stored["hid"]["init"], stored["sid"]["init"]
    ckpt["identity"], ckpt["config"] = _json.dumps(identity), _json.dumps(written)
    torch.save(ckpt, path)
    model, loaded, _ = load_trained(tmp_path / "m", Layout(prepared=prepared))
    # at the values it was trained with, not today's defaults (pca, codebooks, 0.25)
    assert loaded.logit_adjustment == 0.0 and loaded.h2rec.mask_detach is False
    assert (loaded.hid.init, loaded.sid.init) == ("random", "random")
    identity["config"]["lr"] = 0.5  # a real difference is still refused
    ckpt["identity"] = _json.dumps(identity)
    torch.save(ckpt, path)
    with pytest.raises(ConfigError, match="config.lr: checkpoint 0.5"):
        load_trained(tmp_path / "m", Layout(prepared=prepared))
