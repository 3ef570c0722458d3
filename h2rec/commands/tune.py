"""`h2rec tune`: Optuna search of one variant's `train` hyper-parameters, tracked in MLflow.

    h2rec tune --grid experiments/baselines.yaml --variant sasrec              # params `tune`
    h2rec tune --grid experiments/baselines.yaml --variant h2rec --trials 4 --dataset beauty
    python -m flows.tune --grid experiments/baselines.yaml --variants sasrec h2rec --workers 2

A study = (dataset, grid variant). Its trials sample params `tune.space` (dotted `train` keys,
the same space for every variant) over the variant's own overrides, train on the prepared
data and report their validation score after every epoch (train.selection: NDCG@10, full
ranking, overall unless the variant weighs groups otherwise); the median pruner stops
a trial that is below the median of earlier trials at the same epoch (after `warmup_epochs`).
The study lives in `tune.storage` (an RDB), so trials run in parallel processes (the Prefect
flow's Dask workers) share it: each asks the study for its parameters and tells it the result.
A later call adds trials to the same study only if it searches the same thing (the variant's
overrides, the space, the epoch cap and the score); otherwise it stops before any trial. One
call runs a study at a time: trials an earlier, stopped call left RUNNING are marked FAIL.

MLflow: one run per study (tags kind=study, sweep=tune, variant, dataset, model) with one
nested run per trial (kind=trial, trial, optuna_state); a pruned trial ends KILLED, a failed
one FAILED with its reason in the tag `failure`, and the study goes on. When the trials are
done, the study run gets the best trial's parameters, Optuna's optimisation history (the best
trial so far against the trial number), parameter importances and parallel-coordinate plots,
and the override file `experiments/tuned/<dataset>/<variant>.yaml` is written: the variant's
overrides with the best parameters, usable as a grid file (`flows.sweep --grid`), as a
`train:` override of params.yaml, and with its `dvc exp run -S ...` line in its header.
Test metrics are never looked at while tuning.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Any

import yaml

from h2rec.commands.grid import check_prepared, read_grid, variant
from h2rec.config import Params, SearchDim, TuneConfig, load_params, merge
from h2rec.errors import ConfigError
from h2rec.eval.metrics import selection_name
from h2rec.tracking.tags import flatten

log = logging.getLogger(__name__)

TUNED_DIR = Path("experiments/tuned")
TRIALS_DIR = Path("models/tune")
OBJECTIVE = "valid/selection"  # train.selection's score: validation NDCG@10 (overall, unless set otherwise)


# ---- the study ----------------------------------------------------------------------------
def study_name(dataset: str, name: str) -> str:
    return f"{dataset}-{name}"


def storage_url(cfg: TuneConfig) -> str:
    url = cfg.storage
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return url


def make_sampler(cfg: TuneConfig, trial: int = 0):
    """The sampler of trial number `trial`: seeded by (tune.seed, trial), so trials asked in
    parallel processes draw different points and a study is reproducible trial by trial."""
    import optuna

    seed = cfg.seed * 100_003 + trial
    if cfg.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # constant_liar: trials asked while others run avoid the points those are trying
    return optuna.samplers.TPESampler(n_startup_trials=cfg.startup_trials, seed=seed, constant_liar=True)


def make_pruner(cfg: TuneConfig):
    import optuna

    if cfg.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=cfg.startup_trials, n_warmup_steps=cfg.warmup_epochs)


def open_study(cfg: TuneConfig, name: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        study_name=name,
        storage=storage_url(cfg),
        sampler=make_sampler(cfg),
        pruner=make_pruner(cfg),
        direction="maximize",
        load_if_exists=True,
    )


def search_of(overrides: dict, cfg: TuneConfig, selection: dict[str, float]) -> str:
    """What makes two calls' trials comparable: the variant's overrides, the space, the epoch
    cap and the score the trials are ranked by."""
    space = {k: dim.model_dump() for k, dim in cfg.space.items()}
    return json.dumps({"overrides": overrides, "space": space, "epochs": cfg.epochs, "selection": selection}, sort_keys=True)


def check_same_search(study, search: str) -> None:
    """A study is named by dataset and variant only; a later call that changed what is searched
    (another grid's variant of the same name, a new space or epoch cap) would add trials that are
    not comparable with the earlier ones and could report one of those as its best."""
    recorded = study.user_attrs.get("search")
    if recorded is None:
        study.set_user_attr("search", search)
    elif recorded != search:
        raise ConfigError(
            f"study {study.study_name!r} in tune.storage was run with other settings ({recorded}); "
            f"these are {search}. Tune under another variant name, or delete the study "
            f"(optuna delete-study --study-name {study.study_name} --storage <tune.storage>)"
        )


def fail_left_running(study) -> None:
    """Trials still RUNNING when a call starts were left by an earlier call that was stopped
    (a study runs one call at a time; its parallel trials are that call's). Left as they are
    they would count in the override file's "best of N trials", and TPE's constant liar would
    keep steering away from their points as if they were still running."""
    import optuna

    stale = [t.number for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    for number in stale:
        study.tell(number, state=optuna.trial.TrialState.FAIL)
    if stale:
        log.warning("study %s: trials %s were left running by a stopped call; marked FAIL", study.study_name, stale)


def suggest(trial, space: dict[str, SearchDim]) -> dict[str, Any]:
    """{dotted key: value} sampled from the space."""
    values = {}
    for key, dim in space.items():
        if dim.choices is not None:
            values[key] = trial.suggest_categorical(key, list(dim.choices))
        elif dim.int_:
            values[key] = trial.suggest_int(key, int(dim.low), int(dim.high), log=dim.log)
        else:
            values[key] = trial.suggest_float(key, dim.low, dim.high, log=dim.log)
    return values


def nested(flat: dict[str, Any]) -> dict:
    """{'backbone.dropout': 0.2} -> {'backbone': {'dropout': 0.2}}."""
    out: dict = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


# ---- one trial ----------------------------------------------------------------------------
def trial_params(params_path: Path | str, dataset: str, overrides: dict, sampled: dict, epochs: int | None) -> Params:
    train = merge(merge(overrides, nested(sampled)), {"progress": False})
    params = load_params(params_path, {"train": train, "data": {"dataset": dataset}})
    if epochs is not None and params.train.epochs > epochs:  # a cap: it never raises the resolved train.epochs
        params = load_params(params_path, {"train": {**train, "epochs": epochs}, "data": {"dataset": dataset}})
    return params


def run_trial(
    name: str, overrides: dict, dataset: str, params_path: Path | str, parent_run: str, tags: dict[str, str]
) -> dict[str, Any]:
    """Ask the study (by name, from the storage) for one trial, train it, tell the result.

    Returns {number, state, value, params}; never raises for a failing trial (the study goes on).
    """
    import optuna
    from mlflow import MlflowClient

    from h2rec.stages import train
    from h2rec.tracking.run import child_run, ensure_experiment

    root = load_params(params_path)
    cfg = root.tune
    ensure_experiment(root.train.tracking.experiment)  # points MLflow at the project's store (in a worker, too)
    study = open_study(cfg, study_name(dataset, name))
    trial = study.ask()
    study.sampler = make_sampler(cfg, trial.number)  # values are drawn at suggest time, by this sampler
    sampled = suggest(trial, cfg.space)
    out = TRIALS_DIR / study.study_name / f"trial-{trial.number}"
    client = MlflowClient()
    state, value, reason, run_id = optuna.trial.TrialState.COMPLETE, None, None, None
    try:
        with child_run(
            parent_run, f"{name}-trial-{trial.number}", {**tags, "kind": "trial", "trial": str(trial.number)}
        ) as run_id:
            client.set_tag(run_id, "trial_params", json.dumps(sampled, sort_keys=True))  # read back by `h2rec report`
            params = trial_params(params_path, dataset, overrides, sampled, cfg.epochs)

            def report(epoch: int, metrics: dict[str, float]) -> None:
                trial.report(metrics[OBJECTIVE], epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(
                        f"validation selection score {metrics[OBJECTIVE]:.4f} below the median at epoch {epoch}"
                    )

            result = train.run(
                params.train,
                out_dir=out,
                dataset=dataset,
                metrics_path=out / "train.json",
                history_path=out / "train_history.csv",
                on_epoch=report,
                tie_seed=params.evaluate.seed,
            )
            value = float(result.best_score)
            if not math.isfinite(value):
                raise ValueError(f"best validation selection score is {value}")
    except optuna.TrialPruned as e:
        state, reason = optuna.trial.TrialState.PRUNED, str(e)
    except Exception as e:  # a failing trial is recorded, the study goes on
        state, reason = optuna.trial.TrialState.FAIL, f"{type(e).__name__}: {e}"
        log.warning("trial %d of %s failed: %s", trial.number, study.study_name, reason)
    if run_id is not None:
        if state == optuna.trial.TrialState.PRUNED:
            client.set_terminated(run_id, "KILLED")
        client.set_tag(run_id, "optuna_state", state.name)
        if reason:
            client.set_tag(run_id, "failure" if state == optuna.trial.TrialState.FAIL else "pruned", reason[:5000])
    study.tell(trial, value) if state == optuna.trial.TrialState.COMPLETE else study.tell(trial, state=state)
    return {"number": trial.number, "state": state.name, "value": value, "params": sampled, "reason": reason}


# ---- the study's outcome --------------------------------------------------------------------
def best_overrides(study, overrides: dict) -> dict:
    return merge(overrides, nested(study.best_trial.params))


def write_override_file(
    study, overrides: dict, dataset: str, name: str, selection: dict[str, float], out_dir: Path = TUNED_DIR
) -> Path:
    """experiments/tuned/<dataset>/<variant>.yaml: a one-variant grid file (and its -S line);
    `selection` is the train.selection the trials ran with, which the study's value is."""
    best = best_overrides(study, overrides)
    flat = flatten({"train": best})
    score = selection_name(selection)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    header = [
        f"# {name} on {dataset}, tuned by `h2rec tune`: best of {len(study.trials)} trials ({len(done)} completed),",
        f"# trial {study.best_trial.number}, validation {score} (full ranking) {study.best_value:.5f}.",
        "# As a grid:   python -m flows.sweep --grid <this file> --seeds 0 1 2 3 4",
        "# In DVC:      dvc exp run " + " ".join(f"-S {k}={v}" for k, v in {"data.dataset": dataset, **flat}.items()),
        "# Or merge the variant's mapping into params.yaml's `train` section.",
    ]
    path = out_dir / dataset / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header) + "\n" + yaml.safe_dump({"dataset": dataset, name: best}, sort_keys=False))
    return path


def log_study(study, run_id: str, override_file: Path | None) -> None:
    """Best parameters, the trial counts and Optuna's plots onto the study's MLflow run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis
    from mlflow import MlflowClient

    client = MlflowClient()
    states = [t.state.name for t in study.trials]
    for s in ("COMPLETE", "PRUNED", "FAIL"):
        client.log_metric(run_id, f"trials_{s.lower()}", states.count(s))
    completed = [t for t in study.trials if t.state.name == "COMPLETE"]
    if not completed:
        return
    client.log_metric(run_id, "best_valid/selection", study.best_value)
    client.log_metric(run_id, "best_trial", study.best_trial.number)
    for key, value in study.best_trial.params.items():
        client.log_param(run_id, f"best.{key}", value)
    for t in sorted(completed, key=lambda t: t.number):  # the best-trial curve
        best = max(c.value for c in completed if c.number <= t.number)
        client.log_metric(run_id, "best_so_far/selection", best, step=t.number)
    plots = {"optimization_history": vis.plot_optimization_history, "parallel_coordinate": vis.plot_parallel_coordinate}
    if len(completed) >= 2:
        plots["param_importances"] = vis.plot_param_importances
    for name, plot in plots.items():
        try:
            ax = plot(study)
        except Exception as e:  # e.g. importances of a space with no variance yet
            log.warning("optuna plot %s skipped: %s", name, e)
            continue
        figure = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        figure.set_size_inches(9, 5)
        figure.tight_layout()
        client.log_figure(run_id, figure, f"optuna/{name}.png")
        plt.close(figure)
    if override_file is not None:
        client.log_artifact(run_id, str(override_file), artifact_path="optuna")


def study_tags(dataset: str, name: str, overrides: dict, default_model: str) -> dict[str, str]:
    return {"sweep": "tune", "variant": name, "dataset": dataset, "model": str(overrides.get("model", default_model))}


def check_storage(cfg: TuneConfig) -> None:
    """A clear message for a storage URL Optuna cannot open, before any trial runs."""
    try:
        import optuna

        optuna.storages.RDBStorage(storage_url(cfg))
    except Exception as e:
        raise ConfigError(
            f"tune.storage: cannot open {cfg.storage!r} ({type(e).__name__}: {e}); use an RDB URL such as sqlite:///mlruns/optuna.db"
        ) from None


# ---- CLI ----------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--grid", type=Path, default=Path("experiments/baselines.yaml"), help="grid file of the variants (default: %(default)s)"
    )
    parser.add_argument("--variant", required=True, help="the grid variant to tune (e.g. sasrec, h2rec)")
    parser.add_argument("--trials", type=int, help="trials to add to the study (default: params tune.trials)")
    parser.add_argument("--dataset", help="data.dataset (default: the grid's, else params.yaml's); its data stages must have run")


def main(args: argparse.Namespace) -> int:
    grid = read_grid(args.grid)
    overrides = variant(grid, args.variant)
    params = load_params(
        args.params, {"data": {"dataset": args.dataset or grid.dataset}} if (args.dataset or grid.dataset) else None
    )
    dataset, cfg = params.data.dataset, params.tune
    check_storage(cfg)
    trial_params(args.params, dataset, overrides, {}, None)  # the variant's own keys are valid
    check_prepared(dataset)
    n = args.trials or cfg.trials
    result = tune(args.variant, overrides, dataset, args.params, n, params.train.tracking.experiment, params.train.model)
    print(result["summary"])
    return 0


def tune(name, overrides, dataset, params_path, n_trials, experiment, default_model, run_one=None) -> dict:
    """Open the study and its MLflow run, run `n_trials` trials, then log the outcome and
    write the override file. `run_one(parent_run, tags, n)` runs the trials elsewhere (the
    Prefect flow submits `run_trial` to Dask) and returns their results."""
    from mlflow import MlflowClient

    from h2rec.tracking.run import ensure_experiment
    from h2rec.tracking.tags import run_tags

    root = load_params(params_path, {"train": overrides})  # the variant's train.selection is the study's score
    cfg = root.tune
    study = open_study(cfg, study_name(dataset, name))
    check_same_search(study, search_of(overrides, cfg, root.train.selection.weights()))
    fail_left_running(study)
    exp_id = ensure_experiment(experiment)  # first: it points MLflow at the project's store
    client = MlflowClient()
    tags = study_tags(dataset, name, overrides, default_model)
    base = run_tags(dataset, tags["model"], "-", 0)
    base.pop("seed", None)
    run = client.create_run(
        exp_id, tags={**base, **tags, "kind": "study", "study": study.study_name, "mlflow.runName": f"tune-{name}"}
    )
    parent = run.info.run_id
    status, path = "FAILED", None
    try:
        if run_one is None:  # one after another, in this process
            results = [run_trial(name, overrides, dataset, params_path, parent, tags) for _ in range(n_trials)]
        else:
            results = run_one(parent, tags, n_trials)
        study = open_study(cfg, study.study_name)  # re-read: other processes told it results
        completed = [t for t in study.trials if t.state.name == "COMPLETE"]
        path = write_override_file(study, overrides, dataset, name, root.train.selection.weights()) if completed else None
        log_study(study, parent, path)
        status = "FINISHED"
    finally:
        client.set_terminated(parent, status)
    lines = [f"{study.study_name}: {len(results)} trials this call, {len(study.trials)} in the study"]
    for r in results:
        value = f"{r['value']:.4f}" if r["value"] is not None else "-"
        lines.append(
            f"  trial {r['number']:>3} {r['state']:<8} valid score {value}  {r['params']}"
            + (f"  ({r['reason']})" if r["reason"] and r["state"] == "FAIL" else "")
        )
    if path is not None:
        lines.append(f"best: trial {study.best_trial.number}, valid score {study.best_value:.4f} -> {path}")
    else:
        lines.append("no trial completed: no override file written")
    return {"results": results, "override_file": path, "summary": "\n".join(lines)}
