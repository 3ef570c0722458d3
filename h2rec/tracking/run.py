"""An MLflow run for a training, resumed by its evaluation.

Tracking URI: MLFLOW_TRACKING_URI if set, else a SQLite store in mlruns/ (the model registry
needs a database backend) with artifacts beside it under mlruns/.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from h2rec import paths
from h2rec.io import write_json
from h2rec.tracking.tags import flatten

log = logging.getLogger(__name__)
RUN_ENV = "H2REC_MLFLOW_RUN_ID"  # set by the pipeline flow: the stage's nested run
RUN_FILE = "run.json"  # in the model directory: which run a checkpoint belongs to


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{paths.MLRUNS / 'mlflow.db'}"


def ensure_experiment(experiment: str) -> str:
    """Point MLflow at the project's store and return the experiment's id, creating it if new."""
    import mlflow

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    # Artifacts beside the database, wherever the run starts from.
    location = (paths.MLRUNS / "artifacts").resolve().as_uri() if uri.startswith("sqlite:") else None
    return mlflow.create_experiment(experiment, artifact_location=location)


class Run:
    """Start a new run, or resume one by id. Use as a context manager."""

    def __init__(self, experiment: str, run_id: str | None = None, run_name: str | None = None):
        import mlflow

        self.mlflow = mlflow
        mlflow.set_experiment(experiment_id=ensure_experiment(experiment))
        # Inside a pipeline flow, a new run is the stage's nested run the flow opened.
        run_id = run_id or os.environ.get(RUN_ENV)
        self.active = mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name)
        self.run_id = self.active.info.run_id

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            status = "FAILED"
        elif os.environ.get(RUN_ENV) == self.run_id:
            # The run of a flow's block (`child_run`), which may still evaluate into it: it ends
            # here as RUNNING and the block marks it FINISHED when it completes, so a worker
            # killed in between leaves no FINISHED run without test metrics.
            status = "RUNNING"
        else:
            status = "FINISHED"
        self.mlflow.end_run(status=status)  # pops the active run and writes this status

    def log_params(self, params: dict[str, Any]) -> None:
        flat = flatten(params)
        keys = list(flat)
        for i in range(0, len(keys), 100):  # MLflow caps a batch at 100 params
            self.mlflow.log_params({k: flat[k] for k in keys[i : i + 100]})

    def set_tags(self, tags: dict[str, str]) -> None:
        self.mlflow.set_tags(tags)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        finite = {k: float(v) for k, v in metrics.items() if v == v}  # NaN (empty group) is skipped
        self.mlflow.log_metrics(finite, step=step)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        self.mlflow.log_artifact(str(path), artifact_path=folder)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.mlflow.log_text(text, artifact_file)


PARENT_TAG = "mlflow.parentRunId"


@contextmanager
def child_run(parent_id: str, name: str, tags: dict[str, str] | None = None) -> Iterator[str]:
    """A run nested under `parent_id` (the MLflow UI shows it under its parent).

    While open, RUN_ENV names it, so a stage that tracks itself (`Run`) logs into it. It ends
    FINISHED when the block completes and FAILED on an exception; a process killed inside the
    block leaves it RUNNING, never FINISHED without results. The parent's dataset, data version
    and commit tags carry over.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    parent = client.get_run(parent_id)
    inherited = {k: v for k, v in parent.data.tags.items() if k in ("dataset", "data_version", "git_commit")}
    run = client.create_run(
        parent.info.experiment_id, tags={**inherited, PARENT_TAG: parent_id, "mlflow.runName": name, **(tags or {})}
    )
    previous = os.environ.get(RUN_ENV)
    os.environ[RUN_ENV] = run.info.run_id
    try:
        yield run.info.run_id
        client.set_terminated(run.info.run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run.info.run_id, "FAILED")
        raise
    finally:
        if previous is None:
            os.environ.pop(RUN_ENV, None)
        else:
            os.environ[RUN_ENV] = previous


def save_run_id(model_dir: Path, run_id: str, experiment: str) -> None:
    write_json({"run_id": run_id, "experiment": experiment, "tracking_uri": tracking_uri()}, model_dir / RUN_FILE)


def load_run_id(model_dir: Path) -> dict[str, str] | None:
    path = model_dir / RUN_FILE
    return json.loads(path.read_text()) if path.exists() else None
