"""Stage `evaluate`: full-ranking and sampled evaluation of the trained model, by group.

Reads models/recommender/best.pt (its own train config travels inside) and data/prepared;
writes metrics/eval.json (flat `<protocol>/<group>/<metric>` keys, and what was evaluated:
`split` and `model_run_id`, the MLflow run of the checkpoint, which `register` checks),
metrics/eval/{full,sampled}.csv (one row per group, DVC plots) and
reports/eval/{head_tail,buckets}.png; prints an overall/head/tail/short/long table; logs
everything to the training's MLflow run.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from h2rec import paths
from h2rec.config import EvaluateConfig, TrainConfig, load_params
from h2rec.devices import resolve_device
from h2rec.eval import report
from h2rec.eval.cold import cold_target_metrics
from h2rec.eval.evaluator import Evaluator
from h2rec.eval.groups import FULL
from h2rec.eval.level_gate import mean_level_gate
from h2rec.io import write_json
from h2rec.paths import Layout
from h2rec.tracking.run import load_run_id
from h2rec.train.inputs import load_trained

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", type=Path, default=paths.MODEL_DIR, help="checkpoint folder (default: %(default)s)")


def main(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    run(params.evaluate, model_dir=args.model_dir)
    return 0


def run(
    cfg: EvaluateConfig,
    model_dir: Path = paths.MODEL_DIR,
    layout: Layout = Layout(),
    metrics_path: Path = paths.EVAL_METRICS,
    plots_dir: Path = paths.EVAL_PLOTS,
    reports_dir: Path = paths.EVAL_REPORTS,
    track: bool = True,
) -> dict[str, float]:
    torch.set_num_threads(cfg.num_threads)
    model, train_cfg, data = load_trained(model_dir, layout)
    model.to(resolve_device(cfg.device, "evaluate.device"))
    evaluator = Evaluator(data, cfg)
    max_len, padding = train_cfg.backbone.max_len, train_cfg.padding
    cases = evaluator.cases(model, cfg.split, max_len, padding)
    metrics = evaluator.summarise(cases)
    # Beside the groups: cold targets, and what H2Rec's level gate learned.
    extras = {**cold_target_metrics(data, cases), **mean_level_gate(model, data, cfg.split, max_len, padding, cfg.user_batch)}
    sizes = evaluator.sizes(cfg.split)
    protocols = [FULL, evaluator.sampled]
    trained = load_run_id(Path(model_dir))  # the training's MLflow run, if it was tracked
    evaluated = {"split": cfg.split, "model_run_id": (trained or {}).get("run_id", "")}
    write_json({**metrics, **extras, **evaluated}, metrics_path)
    csvs = {p: Path(plots_dir) / f"{'full' if p == FULL else 'sampled'}.csv" for p in protocols}
    for p, path in csvs.items():
        report.write_csv(report.group_rows(metrics, sizes, p, cfg.ks), path)
    charts = [Path(reports_dir) / "head_tail.png", Path(reports_dir) / "buckets.png"]
    report.plot_head_tail(metrics, protocols, charts[0])
    report.plot_buckets(metrics, protocols, charts[1])
    print(f"{train_cfg.model} ({train_cfg.loss}), {cfg.split} split")
    print(report.format_table(metrics, sizes, protocols))
    if track and train_cfg.tracking.enabled:
        _log_to_mlflow(cfg, train_cfg, trained, {**metrics, **extras}, [Path(metrics_path), *csvs.values(), *charts])
    return {**metrics, **extras}


def _log_to_mlflow(cfg: EvaluateConfig, train_cfg: TrainConfig, previous: dict | None, metrics: dict, files: list[Path]) -> None:
    from h2rec.tracking.run import Run
    from h2rec.tracking.tags import flatten

    run_id = previous["run_id"] if previous and previous.get("experiment") == train_cfg.tracking.experiment else None
    try:
        mlrun = Run(train_cfg.tracking.experiment, run_id=run_id, run_name=f"{train_cfg.model}-eval")
    except Exception as e:  # the training's run is gone (another tracking store): start a fresh one
        log.warning("cannot resume MLflow run %s (%s); logging to a new run", run_id, e)
        mlrun = Run(train_cfg.tracking.experiment, run_name=f"{train_cfg.model}-eval")
    with mlrun:
        # Tags, not params: an evaluation may be rerun on the same run with other settings.
        mlrun.set_tags({f"evaluate.{k}": str(v) for k, v in flatten(cfg.model_dump(mode="json")).items()})
        mlrun.log_metrics(metrics)
        for f in files:
            mlrun.log_artifact(f, "evaluation")
        # The model itself is logged once, by the register stage, as a pyfunc from code (no
        # pickle); the run keeps the training config beside the metrics it explains.
        mlrun.log_text(train_cfg.model_dump_json(), "model_config.json")
