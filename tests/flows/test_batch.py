"""The batch-scoring flow on a model trained and registered on a slice of real data, against a
real temporary Prefect API and the slice's SQLite MLflow store."""

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from flows.batch import batch_recommend
from flows.serve import deployments
from h2rec.config import RegisterConfig
from h2rec.errors import DataError
from h2rec.lifecycle.serving import Recommender, make_bundle
from h2rec.stages import register
from tests.conftest import ROOT
from tests.lifecycle.conftest import trained_project  # noqa: F401  (a fixture)

pytestmark = pytest.mark.integration


def test_batch_flow_scores_the_users_file_with_the_champion(prefect_server, trained_project, tmp_path):  # noqa: F811
    import os

    os.chdir(trained_project)
    record = register.run(RegisterConfig(model_name="h2rec"))
    histories = register._example(trained_project / "data" / "prepared", 5)
    stale = pd.DataFrame({"user_id": ["gone"], "history": ["no-such-item"]})  # skipped, not fatal
    pd.concat([histories, stale]).to_csv(trained_project / "users.csv", index=False)
    out = trained_project / "out" / "recs.parquet"

    result = batch_recommend(users="users.csv", out=str(out), k=5, project_dir=str(trained_project))
    assert (result["users"], result["users_scored"], result["users_skipped"]) == (6, 5, 1)
    assert result["model_version"] == str(record["version"])
    recs = pd.read_parquet(out)
    assert list(recs.columns) == ["user_id", "rank", "item_id", "title", "score"] and len(recs) == 25
    local = Recommender(make_bundle(tmp_path / "bundle")).recommend([h.split() for h in histories["history"]], 5)
    assert recs["item_id"].tolist() == local["item_id"].astype(str).tolist()
    assert not list(out.parent.glob(".*.tmp"))  # written through a temporary file, renamed

    runs = mlflow.search_runs(experiment_names=["h2rec-test"], filter_string="tags.kind = 'batch'", output_format="list")
    (run,) = runs
    assert run.data.params["input"] == "users.csv" and run.data.params["k"] == "5"
    assert run.data.params["model_version"] == str(record["version"])
    assert run.data.metrics["users_scored"] == 5.0 and run.info.status == "FINISHED"

    # a missing users file fails the flow with the file's name; the previous output stays
    before = out.read_bytes()
    with pytest.raises(DataError, match="missing.csv: users file not found"):
        batch_recommend(users="missing.csv", out=str(out), project_dir=str(trained_project))
    assert out.read_bytes() == before
    assert str(MlflowClient().get_model_version_by_alias("h2rec", "champion").version) == str(record["version"])


def test_batch_deployment_is_scheduled_beside_the_retrain(prefect_server):
    deps = {d.name: d for d in deployments(ROOT / "prefect.yaml")}
    assert {"weekly-retrain", "on-demand", "batch-recommend"} <= set(deps)
    batch = deps["batch-recommend"]
    assert batch.entrypoint.endswith("flows/batch.py:batch_recommend") or "batch" in batch.flow_name
    assert batch.schedules[0].schedule.cron == "0 5 * * *"
    assert batch.parameters["users"] == "batch/users.csv" and batch.parameters["project_dir"] == str(ROOT)
