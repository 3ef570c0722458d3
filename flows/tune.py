"""Optuna studies with their trials as Prefect tasks on a Dask cluster (h2rec/commands/tune.py).

    python -m flows.tune --grid experiments/baselines.yaml --variants sasrec h2rec --workers 2
    python -m flows.tune --variants sasrec --trials 16 --dataset beauty --address tcp://scheduler:8786

One study per variant, one after another; within a study its trials run in parallel on the
workers (each asks the shared RDB study for its parameters, trains, and tells it the result),
so parallel trials never repeat each other's work. Each study's MLflow run holds its trials as
nested runs; the best configuration is written to experiments/tuned/<dataset>/<variant>.yaml.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from prefect import flow, task

from flows.sweep import add_cluster_arguments, dask_runner, shared_api_server, wait_all, worker_threads
from h2rec.commands import tune as tuner
from h2rec.commands.grid import check_prepared, pick, read_grid, variant
from h2rec.config import load_params
from h2rec.errors import ConfigError


@task(name="tune-trial", task_run_name="{name}-{index}")
def trial(
    name: str, index: int, overrides: dict, dataset: str, project_dir: str, params_path: str, parent: str, tags: dict
) -> dict:
    os.chdir(project_dir)
    return tuner.run_trial(name, {**overrides, **worker_threads()}, dataset, params_path, parent, tags)


@flow(name="h2rec-tune", log_prints=True)
def tune(
    variants: list[str],
    grid_path: str = "experiments/baselines.yaml",
    trials: int | None = None,
    dataset: str | None = None,
    project_dir: str | None = None,
    params_path: str = "params.yaml",
) -> dict[str, str | None]:
    """Tune each variant with the same number of trials; returns variant -> override file."""
    project = str(Path(project_dir or ".").resolve())
    os.chdir(project)
    grid = read_grid(grid_path)
    dataset = dataset or grid.dataset
    params = load_params(params_path, {"data": {"dataset": dataset}} if dataset else None)
    dataset, cfg = params.data.dataset, params.tune
    tuner.check_storage(cfg)
    check_prepared(dataset)
    overrides = pick(grid, variants).variants
    for over in overrides.values():  # a misspelt key fails here, not in every worker
        tuner.trial_params(params_path, dataset, over, {}, None)
    n = trials or cfg.trials
    files = {}
    for name in variants:

        def on_workers(parent: str, tags: dict, count: int, name: str = name) -> list[dict]:
            futures = [trial.submit(name, i, overrides[name], dataset, project, params_path, parent, tags) for i in range(count)]
            results, failures = wait_all(futures, [f"{name} trial task {i}" for i in range(count)])
            for task_name, reason in failures.items():  # a trial's own failures are recorded by run_trial; these are the rest
                print(f"warning: {task_name} did not finish: {reason}")
            return results

        result = tuner.tune(
            name, overrides[name], dataset, params_path, n, params.train.tracking.experiment, params.train.model, on_workers
        )
        print(result["summary"])
        files[name] = str(result["override_file"]) if result["override_file"] else None
    return files


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", default="experiments/baselines.yaml", help="grid file of the variants")
    parser.add_argument("--variants", nargs="+", required=True, help="grid variants to tune, one study each")
    parser.add_argument("--trials", type=int, help="trials per variant (default: params tune.trials)")
    parser.add_argument("--dataset", help="data.dataset (default: the grid's, else params.yaml's)")
    add_cluster_arguments(parser, "workers of the local cluster (parallel trials)")
    args = parser.parse_args(argv)
    try:
        grid = read_grid(args.grid)
        for v in args.variants:
            variant(grid, v)
    except ConfigError as e:
        parser.error(str(e))
    runner = dask_runner(args.address, args.workers)
    with shared_api_server():
        tune.with_options(task_runner=runner)(args.variants, args.grid, args.trials, args.dataset, args.project_dir, args.params)


if __name__ == "__main__":
    main()
