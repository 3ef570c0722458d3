"""Seeds and ablation grids in parallel on a Dask cluster, as sibling MLflow runs.

    python -m flows.sweep --grid experiments/main.yaml --seeds 0 1 2           # local, 2 workers
    python -m flows.sweep --grid experiments/ablation.yaml --address tcp://scheduler:8786
    python -m flows.sweep --grid experiments/tail.yaml --variants text_init_la05 --seeds 0 1
    python -m flows.sweep --models sasrec h2rec --seeds 0 1 --dataset beauty
    h2rec report                                                               # tables of the runs

Each trial trains and evaluates one configuration (params.yaml's `train` section with the
trial's overrides) into models/sweep/<trial>/ and logs to its own run, nested under one parent
run for the sweep, so the MLflow UI compares them side by side. The data stages must have run
(`dvc repro split embed tokenize`, or the pipeline flow) for the sweep's dataset, so every
trial reads the same inputs.

Grid file (experiments/*.yaml): a mapping of variant names to `train` overrides, each variant
run once per seed as trial `<variant>-s<seed>`, plus three optional reserved keys:
    seeds: [0, 1, 2]                        # used unless --seeds is given
    dataset: scientific                     # data.dataset of the sweep, unless --dataset is given
    base: {logit_adjustment: 0.0}           # train overrides under every variant (pins old defaults)
    h2rec: {model: h2rec}
    no_gate: {model: h2rec, h2rec: {gate: mean}}
Every trial run is tagged `sweep` (the grid file's stem, or "models" for --models), `variant`,
`seed`, `dataset` and `model`, besides the tags the training adds; `h2rec report` groups by them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect import flow, task
from prefect_dask import DaskTaskRunner

from flows import tracking
from h2rec.commands.grid import RESERVED, Grid, check_prepared, pick, read_grid, validated  # noqa: F401  (re-exported)
from h2rec.config import load_params
from h2rec.errors import ConfigError

SWEEP_DIR = Path("models/sweep")
HEADLINE = ["full/overall/ndcg_10", "full/head/ndcg_10", "full/tail/ndcg_10"]
DEFAULT_SEEDS = [0, 1, 2]


def grid_from(models: list[str], seeds: list[int], grid: dict[str, dict] | None) -> dict[str, dict]:
    base = grid or {m: {"model": m} for m in models}
    return {f"{name}-s{seed}": {**over, "seed": seed} for name, over in base.items() for seed in seeds}


def trial_tags(name: str, overrides: dict, sweep_name: str, dataset: str, default_model: str) -> dict[str, str]:
    """What `h2rec report` groups by: the variant is the trial name without its seed suffix.
    `config` fingerprints the variant's overrides, so that seeds of two grid entries that share
    a name (another grid, an untuned and a tuned entry) are told apart."""
    return {
        "sweep": sweep_name,
        "variant": name.rsplit("-s", 1)[0],
        "seed": str(overrides["seed"]),
        "dataset": dataset,
        "model": str(overrides.get("model", default_model)),
        "config": config_fingerprint(overrides),
    }


def config_fingerprint(overrides: dict) -> str:
    """10 hex digits of the overrides without the seed (canonical JSON)."""
    rest = {k: v for k, v in overrides.items() if k != "seed"}
    return hashlib.sha1(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()[:10]


def worker_threads() -> dict:
    """{"num_threads": n}: the threads of the Dask worker running this task ({} outside one).

    A trial trains with as many torch threads as its worker has, not `train.num_threads`:
    two single-threaded workers each asking for 2 threads put 4 on 2 cores, and oversubscribed
    OpenMP threads spin against each other.
    """
    try:
        from distributed import get_worker

        return {"num_threads": get_worker().state.nthreads}
    except (ImportError, ValueError):
        return {}


@task(name="trial", task_run_name="{name}")
def trial(
    name: str, overrides: dict, project_dir: str, params_path: str, parent_run: str, tags: dict[str, str] | None = None
) -> dict:
    from mlflow import MlflowClient

    from h2rec.stages import evaluate, train

    os.chdir(project_dir)
    extra = {"data": {"dataset": tags["dataset"]}} if tags else {}
    threads = worker_threads()
    params = load_params(params_path, {"train": {**overrides, **threads, "progress": False}, "evaluate": threads, **extra})
    out = SWEEP_DIR / name
    tracking.ensure_experiment(params.train.tracking.experiment)
    with tracking.stage_run(parent_run, name) as run_id:
        client = MlflowClient()
        for key, value in (tags or {}).items():
            client.set_tag(run_id, key, value)
        train.run(
            params.train,
            out_dir=out,
            dataset=params.data.dataset,
            metrics_path=out / "train.json",
            history_path=out / "train_history.csv",
            tie_seed=params.evaluate.seed,
        )
        metrics = evaluate.run(
            params.evaluate, model_dir=out, metrics_path=out / "eval.json", plots_dir=out / "eval", reports_dir=out / "reports"
        )
    return {"trial": name, **{k: metrics.get(k) for k in HEADLINE}}


@flow(name="h2rec-sweep", log_prints=True)
def sweep(
    models: list[str] = ["sasrec", "sid_sasrec", "h2rec"],  # noqa: B006  (a Prefect parameter default, never mutated)
    seeds: list[int] = DEFAULT_SEEDS,
    grid: dict[str, dict] | None = None,
    project_dir: str | None = None,
    params_path: str = "params.yaml",
    dataset: str | None = None,
    name: str | None = None,
) -> list[dict]:
    """`dataset` overrides data.dataset for this sweep only; `name` is the runs' `sweep` tag."""
    from mlflow import MlflowClient

    project = str(Path(project_dir or ".").resolve())
    os.chdir(project)
    params = load_params(params_path, {"data": {"dataset": dataset}} if dataset else None)
    dataset = params.data.dataset
    name = name or ("grid" if grid else "models")
    check_prepared(dataset)
    trials = grid_from(models, seeds, grid)
    validated(trials, params_path, dataset)  # a misspelt key fails here, not in every worker
    print(f"{len(trials)} trials ({name}, {dataset}): {', '.join(trials)}")
    with tracking.pipeline_run(params.train.tracking.experiment, "sweep", dataset) as parent:
        MlflowClient().set_tag(parent, "sweep", name)
        futures = [
            trial.submit(n, o, project, params_path, parent, trial_tags(n, o, name, dataset, params.train.model))
            for n, o in trials.items()
        ]
        results, failures = wait_all(futures, list(trials))
        for r in results:
            print("  ".join([f"{r['trial']:<28}"] + [f"{k.split('/')[1]} {r[k]:.4f}" for k in HEADLINE if r[k] is not None]))
        if failures:  # after every other trial has finished: one bad variant does not cost the rest
            raise RuntimeError(
                f"{len(failures)} of {len(trials)} trials failed (their MLflow runs are marked FAILED): "
                + "; ".join(f"{n}: {reason}" for n, reason in failures.items())
            )
    return results


def wait_all(futures: list, names: list[str]) -> tuple[list, dict[str, str]]:
    """Every future's result, waiting for all of them: (results of those that completed,
    {name: reason} of those that failed). `f.result()` alone would raise at the first failure
    and end the flow, and with it the local cluster and the trials still running there."""
    for f in futures:
        f.wait()
    results, failures = [], {}
    for name, f in zip(names, futures):
        outcome = f.result(raise_on_failure=False)
        if isinstance(outcome, BaseException):
            failures[name] = f"{type(outcome).__name__}: {outcome}"
        else:
            results.append(outcome)
    return results, failures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["sasrec", "sid_sasrec", "h2rec"])
    parser.add_argument(
        "--seeds", nargs="+", type=int, help=f"seeds of every variant (default: the grid file's `seeds`, else {DEFAULT_SEEDS})"
    )
    parser.add_argument("--grid", type=Path, help="YAML: variant name -> train overrides (replaces --models)")
    parser.add_argument("--dataset", help="data.dataset for this sweep (default: the grid file's, else params.yaml's)")
    parser.add_argument(
        "--variants", nargs="+", help="run only these variants of the grid file (default: all); runs keep the file's sweep tag"
    )
    add_cluster_arguments(parser)
    args = parser.parse_args(argv)
    try:
        grid = read_grid(args.grid) if args.grid else Grid("models", {m: {"model": m} for m in args.models})
        if args.variants:
            if not args.grid:
                raise ConfigError("--variants picks variants of a grid file: give --grid too")
            grid = pick(grid, args.variants)
    except ConfigError as e:
        parser.error(str(e))
    runner = dask_runner(args.address, args.workers)
    with shared_api_server():
        sweep.with_options(task_runner=runner)(
            args.models,
            args.seeds or grid.seeds or DEFAULT_SEEDS,
            grid.variants if args.grid else None,
            args.project_dir,
            args.params,
            dataset=args.dataset or grid.dataset,
            name=grid.name,
        )


def dask_runner(address: str | None, workers: int) -> DaskTaskRunner:
    """An existing cluster at `address`, else a local one of `workers` single-threaded processes."""
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True})


def add_cluster_arguments(parser: argparse.ArgumentParser, workers_help: str = "workers of the local cluster") -> None:
    """--address, --workers, --project-dir, --params: what every Dask flow's command line takes."""
    parser.add_argument("--address", help="Dask scheduler of an existing cluster (default: a local one)")
    parser.add_argument("--workers", type=int, default=2, help=workers_help)
    parser.add_argument("--project-dir", default=".")
    parser.add_argument("--params", default="params.yaml")


@contextmanager
def shared_api_server() -> Iterator[None]:
    """One temporary Prefect server for the flow and every Dask worker, unless one is configured.

    The workers are separate processes: without PREFECT_API_URL each would start a temporary
    server of its own on the same SQLite database ("database is locked"). The address reaches
    them through the environment they are spawned with.
    """
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = SubprocessASGIServer()
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


if __name__ == "__main__":
    main()
