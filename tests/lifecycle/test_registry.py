"""Registration, the champion gate on a real MLflow registry, and the pyfunc in a fresh process."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from h2rec.config import RegisterConfig
from h2rec.lifecycle.registry import register_and_gate
from h2rec.lifecycle.serving import Recommender, make_bundle
from h2rec.stages import register

pytestmark = pytest.mark.integration


def _champion_version(name: str) -> str:
    return str(MlflowClient().get_model_version_by_alias(name, "champion").version)


def test_register_gate_and_fresh_process_load(trained_project, tmp_path, caplog):
    os.chdir(trained_project)
    mlflow_log = logging.getLogger("mlflow")  # does not propagate to the root logger
    mlflow_log.addHandler(caplog.handler)
    try:
        first = register.run(RegisterConfig(model_name="h2rec-test"))
    finally:
        mlflow_log.removeHandler(caplog.handler)
    assert first["promoted"] and "first" in first["reason"]
    assert "CloudPickle" not in caplog.text  # logged from code, nothing pickled
    local_model = Path(mlflow.artifacts.download_artifacts(first["model_uri"], dst_path=str(tmp_path / "dl")))
    assert (local_model / "model_code.py").exists() and not list(local_model.rglob("*.pkl"))
    uri = first["model_uri"]
    data = first["data_version"]

    worse = register_and_gate(uri, "h2rec-test", data, first["overall_ndcg10"] - 0.01, first["tail_ndcg10"], 0.05)
    assert not worse[1].promote and _champion_version("h2rec-test") == str(first["version"])
    tail_loss = register_and_gate(uri, "h2rec-test", data, first["overall_ndcg10"] + 0.01, 0.0, 0.05)
    assert not tail_loss[1].promote or first["tail_ndcg10"] == 0.0
    better = register_and_gate(uri, "h2rec-test", data, first["overall_ndcg10"] + 0.02, first["tail_ndcg10"], 0.05)
    assert better[1].promote and _champion_version("h2rec-test") == better[0]
    tags = MlflowClient().get_model_version("h2rec-test", worse[0]).tags
    assert tags["gate.decision"] == "kept" and "not better overall" in tags["gate.reason"]

    # in-memory top-K == the registered pyfunc loaded by alias in a fresh process
    histories = register._example(trained_project / "data" / "prepared", 3)
    histories.to_csv(tmp_path / "hist.csv", index=False)
    local = Recommender(make_bundle(tmp_path / "bundle")).recommend([h.split() for h in histories["history"]], 10)
    out = tmp_path / "recs.csv"
    # Refusing pickle deserialisation proves that loading the model unpickles nothing.
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
    }
    done = subprocess.run(
        [
            "h2rec",
            "recommend",
            "--histories",
            str(tmp_path / "hist.csv"),
            "--model",
            "models:/h2rec-test@champion",
            "--out",
            str(out),
        ],
        cwd=trained_project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    remote = pd.read_csv(out)
    assert remote["item_id"].astype(str).tolist() == local["item_id"].astype(str).tolist()
    assert remote["title"].notna().all()
    saved = json.loads((trained_project / "metrics" / "register.json").read_text())
    assert saved["version"] == first["version"]
