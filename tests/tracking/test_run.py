"""One real MLflow run (SQLite store in a temporary folder): train logs it, evaluate resumes it."""

import os
from pathlib import Path

import mlflow
import pytest

from h2rec.config import BackboneConfig, EvaluateConfig, TrackingConfig, TrainConfig
from h2rec.paths import Layout
from h2rec.stages import evaluate, train
from h2rec.tracking.run import RUN_ENV, Run, child_run, ensure_experiment, load_run_id
from tests.conftest import PLAIN_START
from tests.train.test_stages import write_prepared


def test_training_and_evaluation_share_one_tracked_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    prepared = write_prepared(tmp_path / "prepared")
    cfg = TrainConfig(
        model="sasrec",
        epochs=2,
        batch_size=16,
        progress=False,
        tracking=TrackingConfig(experiment="test-exp"),
        backbone=BackboneConfig(max_len=10, hidden=8, layers=1, ffn=8),
        **PLAIN_START,
    )
    train.run(cfg, layout=Layout(prepared=prepared), out_dir=Path("model"), dataset="toy")
    run_id = load_run_id(Path("model"))["run_id"]
    evaluate.run(EvaluateConfig(sampled_negatives=20), model_dir=Path("model"), layout=Layout(prepared=prepared))

    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.backbone.hidden"] == "8" and run.data.params["train.loss"] == "ce"
    assert {k: run.data.tags[k] for k in ("dataset", "model", "loss", "seed")} == {
        "dataset": "toy",
        "model": "sasrec",
        "loss": "ce",
        "seed": "42",
    }
    assert "git_commit" in run.data.tags and "data_version" in run.data.tags
    assert [m.step for m in client.get_metric_history(run_id, "valid/ndcg_10")] == [1, 2]
    assert "full/tail/ndcg_10" in run.data.metrics and "sampled20/overall/hr_10" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run_id, "evaluation")}
    assert {"evaluation/eval.json", "evaluation/head_tail.png", "evaluation/buckets.png", "evaluation/full.csv"} <= artifacts
    assert "model_config.json" in {a.path for a in client.list_artifacts(run_id)}
    # no pickled torch model: the one model of a run is the pyfunc the register stage logs from code
    assert mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list") == []


def test_a_nested_run_is_finished_only_when_its_block_completes(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = ensure_experiment("test-exp")  # first: it points MLflow at this test's store
    client = mlflow.MlflowClient()
    parent = client.create_run(experiment_id)
    status = {}

    with child_run(parent.info.run_id, "done") as run_id:
        with Run("test-exp") as stage:  # a stage that tracks itself logs into the block's run...
            stage.log_metrics({"valid/ndcg_10": 0.1})
        status["inside"] = client.get_run(run_id).info.status  # ...which stays open for the next stage
    status["done"] = client.get_run(run_id).info.status

    with pytest.raises(RuntimeError), child_run(parent.info.run_id, "failed") as run_id:
        raise RuntimeError("training diverged")
    status["failed"] = client.get_run(run_id).info.status

    # A worker killed mid-block never leaves the block: the run must not read as FINISHED
    # (the report takes FINISHED runs for results).
    killed = child_run(parent.info.run_id, "killed")
    run_id = killed.__enter__()
    status["killed"] = client.get_run(run_id).info.status
    os.environ.pop(RUN_ENV, None)

    assert status == {"inside": "RUNNING", "done": "FINISHED", "failed": "FAILED", "killed": "RUNNING"}


def test_a_stage_inside_a_block_never_marks_the_run_finished(tmp_path, monkeypatch):
    """Killed right after the stage's run context exits, the block's run must not read FINISHED."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = ensure_experiment("test-exp")
    client = mlflow.MlflowClient()
    parent = client.create_run(experiment_id)
    block = child_run(parent.info.run_id, "killed after the stage")
    run_id = block.__enter__()

    with Run("test-exp") as stage:
        stage.log_metrics({"valid/ndcg_10": 0.1})
        # The worker dies after the stage's end_run: no later status update reaches the store.
        monkeypatch.setattr(mlflow.MlflowClient, "update_run", lambda *args, **kwargs: None)
    os.environ.pop(RUN_ENV, None)

    assert client.get_run(run_id).info.status == "RUNNING"
