"""The whole pipeline flow and its deployments on a slice of real data: a real temporary
Prefect API, real DVC, and a real SQLite MLflow store inside the scratch project."""

import asyncio
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL

from flows.pipeline import pipeline
from flows.serve import deployments
from h2rec.commands.recommend import load_recommender
from h2rec.errors import ValidationFailed
from tests.conftest import run

pytestmark = pytest.mark.integration


def _champion() -> str:
    return str(MlflowClient().get_model_version_by_alias("h2rec", "champion").version)


def test_deployment_run_then_no_change_then_bad_input(prefect_server, dvc_project, monkeypatch):
    monkeypatch.chdir(dvc_project)  # restored afterwards; the flow changes into project_dir
    ids = {d.name: d.apply() for d in deployments(dvc_project / "prefect.yaml")}

    async def read(dep_id):
        async with get_client() as client:
            return await client.read_deployment(dep_id)

    assert asyncio.run(read(ids["weekly-retrain"])).schedules[0].schedule.cron == "0 3 * * 1"

    # 1. the on-demand deployment runs every stage and leaves a champion
    flow_run = run_deployment("h2rec-pipeline/on-demand", parameters={"dataset": "scientific"}, timeout=0)
    env = {"PREFECT_API_URL": str(PREFECT_API_URL.value())}
    run([sys.executable, "-m", "prefect", "flow-run", "execute", str(flow_run.id)], dvc_project, env)
    assert "up to date" in run(["dvc", "status"], dvc_project)
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{dvc_project / 'mlruns' / 'mlflow.db'}")
    assert _champion() == "1"
    runs = mlflow.search_runs(experiment_names=["h2rec-test"], output_format="list")
    parents = [r for r in runs if r.data.tags.get("kind") == "pipeline"]
    children = {r.data.tags.get("stage") for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id}
    assert {"ingest", "split", "train", "evaluate", "register"} <= children
    assert parents[0].inputs.dataset_inputs  # mlflow.log_input lineage

    # cold start: a new item with text gets SIDs without refitting and is ranked by the champion
    items = pd.read_parquet(dvc_project / "data/prepared/items.parquet")
    pd.DataFrame({"item_id": ["brand-new"], "title": [items["title"].iloc[0]]}).to_csv(dvc_project / "new.csv", index=False)
    run(["h2rec", "tokenize", "--items", "new.csv", "--out", "new_sids.parquet"], dvc_project)
    rec = load_recommender("models:/h2rec@champion")
    assert rec.add_items(pd.read_parquet(dvc_project / "new_sids.parquet")) == 1
    history = [items["item_id"].iloc[1], items["item_id"].iloc[2]]
    ranked = rec.recommend([history], k=len(rec.item_ids) - 1 - len(history))  # every unseen item
    assert "brand-new" in set(ranked["item_id"]) and np.isfinite(ranked["score"]).all()

    # 2. nothing changed: nothing runs, nothing is registered
    assert set(pipeline(str(dvc_project)).values()) == {"skipped"}
    assert _champion() == "1"

    # 3. a broken input fails the flow before training; the champion and the data stay
    before = (dvc_project / "data/prepared/interactions.parquet").read_bytes()
    raw = yaml.safe_load((dvc_project / "params.yaml").read_text())
    inter_path = dvc_project / raw["data"]["sources"]["scientific"]["interactions"]
    inter_path.write_text(inter_path.read_text().replace("[", "[987654321, ", 1))
    with pytest.raises(ValidationFailed, match="987654321"):
        pipeline(str(dvc_project))
    assert (dvc_project / "data/prepared/interactions.parquet").read_bytes() == before
    assert _champion() == "1"
    assert len(MlflowClient().search_model_versions("name='h2rec'")) == 1
