"""A seed sweep on a real 2-worker local Dask cluster through Prefect's Dask task runner."""

import mlflow
import pytest
from prefect.settings import PREFECT_API_URL
from prefect_dask import DaskTaskRunner

from flows.sweep import grid_from, sweep
from h2rec.config import load_params
from h2rec.stages import ingest, split

pytestmark = pytest.mark.integration


def test_grid_names_every_trial():
    grid = grid_from(["sasrec"], [0, 1], {"no-gate": {"model": "h2rec", "h2rec": {"gate": False}}})
    assert grid == {
        "no-gate-s0": {"model": "h2rec", "h2rec": {"gate": False}, "seed": 0},
        "no-gate-s1": {"model": "h2rec", "h2rec": {"gate": False}, "seed": 1},
    }


def test_seed_sweep_on_two_dask_workers(prefect_server, dvc_project, monkeypatch):
    monkeypatch.chdir(dvc_project)
    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))  # for the worker processes
    p = load_params()
    ingest.run(p.data, p.validate_)
    split.run(p.preprocess)
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True})
    results = sweep.with_options(task_runner=runner)(["sasrec"], [0, 1], None, str(dvc_project))
    assert sorted(r["trial"] for r in results) == ["sasrec-s0", "sasrec-s1"]
    assert all(0 <= r["full/overall/ndcg_10"] <= 1 for r in results)
    assert (dvc_project / "models/sweep/sasrec-s1/best.pt").exists()
    runs = mlflow.search_runs(experiment_names=["h2rec-test"], output_format="list")
    parent = next(r for r in runs if r.data.tags.get("mlflow.runName") == "sweep")
    siblings = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.tags["stage"] for r in siblings) == ["sasrec-s0", "sasrec-s1"]
    assert all("full/overall/ndcg_10" in r.data.metrics for r in siblings)
