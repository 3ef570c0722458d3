"""The pipeline flow and its deployments, with a real temporary Prefect API and real DVC."""

import asyncio
import sys

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL

from flows.pipeline import pipeline
from flows.serve import deployments
from h2rec.errors import ValidationFailed
from tests.conftest import run

pytestmark = pytest.mark.integration


def test_pipeline_runs_then_skips_everything(prefect_server, dvc_project, monkeypatch):
    monkeypatch.chdir(dvc_project)  # restored afterwards; the flow changes into project_dir
    first = pipeline(str(dvc_project))
    assert set(first.values()) == {"ran"}
    assert "up to date" in run(["dvc", "status"], dvc_project)
    assert set(pipeline(str(dvc_project)).values()) == {"skipped"}


def test_failed_validation_fails_the_flow_and_keeps_outputs(prefect_server, dvc_project, monkeypatch):
    monkeypatch.chdir(dvc_project)
    pipeline(str(dvc_project))
    before = (dvc_project / "data/prepared/interactions.parquet").read_bytes()
    raw = yaml.safe_load((dvc_project / "params.yaml").read_text())
    inter_path = dvc_project / raw["data"]["sources"]["scientific"]["interactions"]
    inter_path.write_text(inter_path.read_text().replace("[", "[987654321, ", 1))
    with pytest.raises(ValidationFailed, match="987654321"):
        pipeline(str(dvc_project))
    assert (dvc_project / "data/prepared/interactions.parquet").read_bytes() == before


def test_deployments_load_and_an_on_demand_run_succeeds(prefect_server, dvc_project):
    ids = {d.name: d.apply() for d in deployments(dvc_project / "prefect.yaml")}

    async def read(dep_id):
        async with get_client() as client:
            return await client.read_deployment(dep_id)

    weekly = asyncio.run(read(ids["weekly-retrain"]))
    assert weekly.schedules[0].schedule.cron == "0 3 * * 1"
    flow_run = run_deployment("h2rec-pipeline/on-demand", parameters={"dataset": "scientific"}, timeout=0)
    env = {"PREFECT_API_URL": str(PREFECT_API_URL.value())}
    run([sys.executable, "-m", "prefect", "flow-run", "execute", str(flow_run.id)], dvc_project, env)
    assert (dvc_project / "data/prepared/interactions.parquet").exists()
