"""MLflow for a pipeline run: one parent run, one nested run per stage that ran.

Stages that track themselves (train, then evaluate and register resuming the training's run)
log into the nested run the flow opened for them: `h2rec.tracking.run.Run` picks it up from
H2REC_MLFLOW_RUN_ID. For every stage the flow also logs the numbers of its DVC metrics files
and attaches its metrics and plots files, so each stage's nested run shows what it produced.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from h2rec.tracking.run import RUN_ENV, child_run, ensure_experiment  # noqa: F401  (re-exported)
from h2rec.tracking.tags import flatten, run_tags


@contextmanager
def pipeline_run(experiment: str, name: str, dataset: str) -> Iterator[str]:
    exp_id = ensure_experiment(experiment)  # first: it points MLflow at the project's store
    client = MlflowClient()
    tags = {**run_tags(dataset, "pipeline", "-", 0), "mlflow.runName": name, "kind": "pipeline"}
    tags.pop("seed", None)
    run = client.create_run(exp_id, tags=tags)
    status = "FAILED"
    try:
        yield run.info.run_id
        status = "FINISHED"
    finally:
        client.set_terminated(run.info.run_id, status)


def stage_run(parent_id: str, stage: str):
    """The nested run of one pipeline stage (tags `stage`, `kind`)."""
    return child_run(parent_id, stage, {"stage": stage, "kind": "stage"})


def log_stage_outputs(run_id: str, stage: str, root: Path | str = ".") -> None:
    """Numbers of the stage's DVC metrics files as metrics; metrics and plots as artifacts."""
    from dvc.repo import Repo  # here, not at the top: the sweep and tune flows import this module but never DVC

    client = MlflowClient()
    with Repo(str(root)) as repo:
        outs = [o for o in repo.stage.collect(stage)[0].outs if o.metric or o.plot]
    for out in outs:
        path = Path(root) / str(out)
        if not path.is_file():
            continue
        if out.metric and path.suffix == ".json":
            values = flatten(json.loads(path.read_text()))
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    client.log_metric(run_id, f"{stage}.{key}".replace("@", "_"), float(value))
        client.log_artifact(run_id, str(path), artifact_path=stage)


def log_data_lineage(run_id: str, dataset: str, data_version: str, prepared: Path) -> None:
    """`mlflow.log_input` of the prepared interactions, named with their DVC data version."""
    import pandas as pd

    frame = pd.read_parquet(prepared / "interactions.parquet")
    ds = mlflow.data.from_pandas(frame, source=str(prepared.resolve()), name=f"{dataset}@{data_version[:12]}")
    with mlflow.start_run(run_id=run_id):
        mlflow.log_input(ds, context="training", tags={"data_version": data_version})
