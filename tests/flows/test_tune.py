"""A study whose trials run as Prefect tasks on a real 2-worker local Dask cluster."""

import mlflow
import pytest
import yaml
from prefect.settings import PREFECT_API_URL
from prefect_dask import DaskTaskRunner

from flows.tune import tune


@pytest.mark.integration
def test_parallel_trials_share_one_study(prefect_server, dvc_project, monkeypatch):
    from h2rec.config import load_params
    from h2rec.stages import ingest, split

    monkeypatch.chdir(dvc_project)
    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))  # for the worker processes
    raw = yaml.safe_load((dvc_project / "params.yaml").read_text())
    raw["tune"].update(
        epochs=2, storage=f"sqlite:///{dvc_project / 'optuna.db'}", space={"lr": {"low": 0.0005, "high": 0.005, "log": True}}
    )
    (dvc_project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    # only ingest and split run here: no text embeddings, so the grid pins the random start
    (dvc_project / "grid.yaml").write_text("base: {hid: {init: random}}\nsasrec: {model: sasrec}\n")
    p = load_params()
    ingest.run(p.data, p.validate_)
    split.run(p.preprocess)
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True})
    files = tune.with_options(task_runner=runner)(["sasrec"], "grid.yaml", 2, None, str(dvc_project))
    assert files == {"sasrec": "experiments/tuned/scientific/sasrec.yaml"}
    import optuna

    study = optuna.load_study(study_name="scientific-sasrec", storage=f"sqlite:///{dvc_project / 'optuna.db'}")
    assert sorted(t.number for t in study.trials) == [0, 1]  # two workers, two distinct trials
    assert len({t.params["lr"] for t in study.trials}) == 2
    runs = mlflow.search_runs(experiment_names=["h2rec-test"], output_format="list")
    (parent,) = [r for r in runs if r.data.tags.get("kind") == "study"]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.tags["trial"] for r in trials) == ["0", "1"]
