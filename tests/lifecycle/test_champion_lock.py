"""Two registrations at once are decided one after the other: the champion alias is never raced."""

import os
import subprocess
import sys
import textwrap
import time

import mlflow
import pytest
from mlflow import MlflowClient

from h2rec.errors import Busy
from h2rec.io import file_lock
from h2rec.lifecycle.registry import register_and_gate, registry_lock_path

# Each worker waits for the start signal, then registers; `decide` is slowed down so that,
# without the lock, both would read "no champion yet" before either sets the alias.
WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import mlflow
    import h2rec.lifecycle.registry as registry

    real = registry.decide
    def slow_decide(*args, **kwargs):
        time.sleep(1.0)
        return real(*args, **kwargs)
    registry.decide = slow_decide

    uri, overall, go = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])
    mlflow.set_tracking_uri(sys.argv[4])
    while not go.exists():
        time.sleep(0.01)
    version, decision = registry.register_and_gate(uri, "race", "data-1", overall, 0.02, 0.05)
    print(version, decision.promote, decision.reason)
    """
)


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(experiment_id=mlflow.create_experiment("race")):
        model = mlflow.create_external_model(name="stub")  # a logged model to register, no files
    return uri, f"models:/{model.model_id}"


def test_file_lock_times_out_naming_the_file_and_holder(tmp_path):
    path = tmp_path / "x.lock"
    with file_lock(path, 1, "the x lock"):
        with pytest.raises(Busy, match=rf"{path}: the x lock is held by another process \(pid {os.getpid()}\)"):
            with file_lock(path, 0.2, "the x lock"):
                pass
    with file_lock(path, 0.2, "the x lock"):  # released on exit
        pass


def test_lock_file_sits_beside_a_local_store(tmp_path):
    assert registry_lock_path(f"sqlite:///{tmp_path}/mlflow.db") == tmp_path / "mlflow.db.registry.lock"
    assert registry_lock_path(str(tmp_path / "mlruns")) == tmp_path / "mlruns" / "registry.lock"
    assert registry_lock_path("http://127.0.0.1:5000").name.startswith("h2rec-registry-")


@pytest.mark.integration
def test_two_processes_promoting_at_once_end_with_one_consistent_champion(store, tmp_path):
    uri, model_uri = store
    go = tmp_path / "go"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, model_uri, str(overall), str(go), uri],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for overall in (0.05, 0.06)
    ]
    time.sleep(4)  # both have imported mlflow and wait for the signal
    go.touch()
    outputs = [w.communicate(timeout=180) for w in workers]
    assert all(w.returncode == 0 for w in workers), [err[-2000:] for _, err in outputs]

    client = MlflowClient()
    versions = client.search_model_versions("name='race'")
    assert len(versions) == 2
    tags = {v.version: v.tags for v in versions}
    assert all({"gate.decision", "gate.reason"} <= set(t) for t in tags.values())  # both versions tagged
    # Exactly one was first; the other was compared with it, whichever order the lock gave them.
    assert sum("first registered model" in t["gate.reason"] for t in tags.values()) == 1
    champion = client.get_model_version_by_alias("race", "champion")
    assert champion.tags["gate.overall_ndcg10"] == "0.06" and champion.tags["gate.decision"] == "promoted"


@pytest.mark.integration
def test_a_held_registry_lock_times_out_with_a_clear_message(store):
    uri, model_uri = store
    lock = registry_lock_path(uri)
    with file_lock(lock, 1, "test"):
        with pytest.raises(Busy, match=r"mlflow\.db\.registry\.lock: the registry lock of model 'race' is held"):
            register_and_gate(model_uri, "race", "d", 0.1, 0.1, 0.05, lock_timeout=0.3)
    assert MlflowClient().search_model_versions("name='race'") == []  # nothing registered meanwhile
