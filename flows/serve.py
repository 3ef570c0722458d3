"""Serve the deployments declared in prefect.yaml from this process.

    prefect server start --host 127.0.0.1 --port 4200          # in one terminal
    export PREFECT_API_URL=http://127.0.0.1:4200/api
    python -m flows.serve                                       # in another
    prefect deployment run 'h2rec-pipeline/on-demand' -p dataset=beauty
    prefect deployment run 'h2rec-batch-recommend/batch-recommend' -p users=batch/users.csv

prefect.yaml stays the one place where names, schedules and default parameters live.
Schedules fire only against a running `prefect server start` (not the temporary server).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.batch import batch_recommend
from flows.pipeline import pipeline

PREFECT_YAML = Path(__file__).resolve().parents[1] / "prefect.yaml"
FLOWS = {"flows/pipeline.py:pipeline": pipeline, "flows/batch.py:batch_recommend": batch_recommend}


def deployments(path: Path = PREFECT_YAML) -> list[RunnerDeployment]:
    """The deployments of `path`, bound to the checkout that holds it."""
    spec = yaml.safe_load(path.read_text())
    project = {"project_dir": str(path.resolve().parent)}
    out = []
    for d in spec["deployments"]:
        if d["entrypoint"] not in FLOWS:
            raise ValueError(
                f"{path}: deployment {d['name']} has an unknown entrypoint {d['entrypoint']}; known: {sorted(FLOWS)}"
            )
        out.append(
            FLOWS[d["entrypoint"]].to_deployment(
                name=d["name"],
                description=d.get("description"),
                tags=d.get("tags"),
                parameters=project | {k: v for k, v in (d.get("parameters") or {}).items() if v is not None},
                schedules=[Cron(s["cron"], timezone=s.get("timezone", "UTC")) for s in d.get("schedules") or []],
            )
        )
    return out


if __name__ == "__main__":
    serve(*deployments())
