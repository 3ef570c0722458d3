"""The whole pipeline as one Prefect flow: every stage of dvc.yaml, in dependency order.

    python -m flows.pipeline [--dataset beauty] [--model h2rec] [--force]

Each task runs its DVC stage's `h2rec` command in-process, skipping it when DVC says its
inputs are unchanged (so a re-run with no change retrains nothing) and recording it in
dvc.lock afterwards; `dvc repro` and this flow therefore reach the same end state. A failed
validation fails the flow before anything downstream (training, registration) runs.

The flow holds DVC's repository lock while it runs (flows.dvc_stages.hold): a second flow or a
`dvc repro` in the same project is refused with a clear message instead of racing this one.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from prefect import flow, task
from prefect.logging import get_run_logger

from flows import dvc_stages, tracking
from flows.overrides import set_params
from flows.policies import IO_TASK
from h2rec import paths
from h2rec.config import load_params
from h2rec.tracking.tags import data_version


@task(name="stage", task_run_name="{stage_name}", **IO_TASK)
def run_stage(stage_name: str, argv: list[str], params_path: str, force: bool, parent_run: str) -> str:
    log = get_run_logger()
    if not force and dvc_stages.is_current(stage_name):
        log.info("stage %s is up to date (DVC): skipped", stage_name)
        return "skipped"
    log.info("running h2rec %s", " ".join(argv))
    with tracking.stage_run(parent_run, stage_name) as run_id:
        dvc_stages.run_command(argv, params_path)
        dvc_stages.record(stage_name)
        tracking.log_stage_outputs(run_id, stage_name)
    return "ran"


@flow(name="h2rec-pipeline", log_prints=True)
def pipeline(
    project_dir: str | None = None,
    params_path: str = "params.yaml",
    dataset: str | None = None,
    model: str | None = None,
    force: bool = False,
) -> dict[str, str]:
    """Run every stage that is out of date; `dataset`/`model` are written into params.yaml.

    `project_dir` is the checkout to work in (default: the current directory). Deployments
    set it, because a deployment's flow run starts from a temporary copy of the code.
    """
    if project_dir:
        os.chdir(project_dir)
    print(f"project: {Path.cwd()}")
    outcome: dict[str, str] = {}
    # Before params.yaml is touched: a refused run must leave the running one's inputs alone.
    with dvc_stages.hold():
        overrides = {k: v for k, v in {"data.dataset": dataset, "train.model": model}.items() if v}
        if set_params(params_path, overrides):
            print(f"params.yaml updated: {overrides}")
        params = load_params(params_path)  # a bad parameter fails here, before any stage runs
        stages = dvc_stages.pipeline_stages()
        name = f"pipeline-{params.data.dataset}-{params.train.model}"
        with tracking.pipeline_run(params.train.tracking.experiment, name, params.data.dataset) as parent:
            for stage in stages:
                outcome[stage.name] = run_stage(stage.name, stage.argv, params_path, force, parent)
            version = data_version()
            if version and paths.PREPARED.exists():
                tracking.log_data_lineage(parent, params.data.dataset, version, paths.PREPARED)
    print("stages: " + ", ".join(f"{k}={v}" for k, v in outcome.items()))
    return outcome


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project-dir", help="checkout to run in (default: current directory)")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dataset", help="set data.dataset in params.yaml first")
    parser.add_argument("--model", help="set train.model in params.yaml first")
    parser.add_argument("--force", action="store_true", help="run every stage even if up to date")
    args = parser.parse_args(argv)
    pipeline(args.project_dir, args.params, args.dataset, args.model, args.force)


if __name__ == "__main__":
    main()
