"""Seeds and ablation grids in parallel on a Dask cluster, as sibling MLflow runs.

    python -m flows.sweep --models sasrec sid_sasrec h2rec --seeds 0 1 2        # local, 2 workers
    python -m flows.sweep --grid sweep.yaml --address tcp://scheduler:8786      # a real cluster

Each trial trains and evaluates one configuration (params.yaml's `train` section with the
trial's overrides) into models/sweep/<trial>/ and logs to its own run, nested under one parent
run for the sweep, so the MLflow UI compares them side by side. The data stages must have run
(`dvc repro split embed tokenize`, or the pipeline flow) so every trial reads the same inputs.
A grid file maps trial names to `train` overrides, e.g.
    h2rec-no-gate: {model: h2rec, h2rec: {gate: false}}
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import yaml
from prefect import flow, task
from prefect_dask import DaskTaskRunner

from flows import tracking
from h2rec.config import load_params

SWEEP_DIR = Path("models/sweep")
HEADLINE = ["full/overall/ndcg_10", "full/head/ndcg_10", "full/tail/ndcg_10"]


@task(name="trial", task_run_name="{name}")
def trial(name: str, overrides: dict, project_dir: str, params_path: str, parent_run: str) -> dict:
    from h2rec.stages import evaluate, train

    os.chdir(project_dir)
    params = load_params(params_path, {"train": {**overrides, "progress": False}})
    out = SWEEP_DIR / name
    tracking.ensure_experiment(params.train.tracking.experiment)
    with tracking.stage_run(parent_run, name):
        train.run(params.train, out_dir=out, dataset=params.data.dataset,
                  metrics_path=out / "train.json", history_path=out / "train_history.csv")
        metrics = evaluate.run(params.evaluate, model_dir=out, metrics_path=out / "eval.json",
                               plots_dir=out / "eval", reports_dir=out / "reports")
    return {"trial": name, **{k: metrics.get(k) for k in HEADLINE}}


def grid_from(models: list[str], seeds: list[int], grid: dict[str, dict] | None) -> dict[str, dict]:
    base = grid or {m: {"model": m} for m in models}
    return {f"{name}-s{seed}": {**over, "seed": seed} for name, over in base.items() for seed in seeds}


@flow(name="h2rec-sweep", log_prints=True)
def sweep(
    models: list[str] = ["sasrec", "sid_sasrec", "h2rec"],
    seeds: list[int] = [0, 1, 2],
    grid: dict[str, dict] | None = None,
    project_dir: str | None = None,
    params_path: str = "params.yaml",
) -> list[dict]:
    project = str(Path(project_dir or ".").resolve())
    os.chdir(project)
    params = load_params(params_path)
    trials = grid_from(models, seeds, grid)
    print(f"{len(trials)} trials: {', '.join(trials)}")
    with tracking.pipeline_run(params.train.tracking.experiment, "sweep", params.data.dataset) as parent:
        futures = [trial.submit(n, o, project, params_path, parent) for n, o in trials.items()]
        results = [f.result() for f in futures]
    for r in results:
        print("  ".join([f"{r['trial']:<28}"] + [f"{k.split('/')[1]} {r[k]:.4f}" for k in HEADLINE if r[k] is not None]))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["sasrec", "sid_sasrec", "h2rec"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--grid", type=Path, help="YAML: trial name -> train overrides (replaces --models)")
    parser.add_argument("--address", help="Dask scheduler of an existing cluster (default: a local one)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the local cluster")
    parser.add_argument("--project-dir", default=".")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    runner = (
        DaskTaskRunner(address=args.address)
        if args.address
        else DaskTaskRunner(cluster_kwargs={"n_workers": args.workers, "threads_per_worker": 1, "processes": True})
    )
    grid = yaml.safe_load(args.grid.read_text()) if args.grid else None
    sweep.with_options(task_runner=runner)(args.models, args.seeds, grid, args.project_dir, args.params)


if __name__ == "__main__":
    main()
