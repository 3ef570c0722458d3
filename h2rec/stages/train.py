"""Stage `train`: fit the model named by `train.model` on data/prepared (and data/sid).

Reads the layout's folders (data/prepared and what the model needs: data/sid, data/features,
data/cooccurrence). Writes models/recommender/{best.pt, last.pt, run.json}, metrics/train.json and
metrics/train_history.csv; logs the run (params, tags, per-epoch metrics) to MLflow.
`h2rec train --resume` continues an interrupted training from last.pt.
"""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path

import torch

from h2rec import paths
from h2rec.config import EvaluateConfig, TrainConfig, load_params
from h2rec.devices import effective_precision
from h2rec.io import atomic_path, write_json
from h2rec.models.registry import build_model
from h2rec.paths import Layout
from h2rec.train import checkpoint, distributed
from h2rec.train.inputs import load_inputs
from h2rec.train.trainer import EpochHook, Trainer, TrainState, seed_everything

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--out", type=Path, default=paths.MODEL_DIR, help="checkpoint folder (default: %(default)s)")


def main(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    run(params.train, out_dir=args.out, resume=args.resume, dataset=params.data.dataset, tie_seed=params.evaluate.seed)
    return 0


def run(
    cfg: TrainConfig,
    layout: Layout = Layout(),
    out_dir: Path | None = None,
    resume: bool = False,
    dataset: str | None = None,
    metrics_path: Path = paths.TRAIN_METRICS,
    history_path: Path = paths.TRAIN_HISTORY,
    on_epoch: EpochHook | None = None,
    tie_seed: int = EvaluateConfig().seed,
) -> TrainState:
    """`on_epoch(epoch, metrics)` is called after each epoch (a tuner's pruning hook); an
    exception it raises ends the training there. `tie_seed` (`evaluate.seed`) orders tied
    scores in the per-epoch validation as in the final evaluation."""
    torch.set_num_threads(cfg.num_threads)
    distributed.setup()  # under torchrun: join the process group
    out_dir = Path(out_dir or layout.model)
    inputs = load_inputs(cfg, layout)
    data, sid = inputs.data, inputs.sid
    seed_everything(cfg.seed)
    model = build_model(cfg, inputs)
    identity = checkpoint.identity(cfg, data.signature(), sid.signature() if sid else None)
    log.info(
        "training %s (%s loss) on %d users, %d items, %d windows, %d target positions",
        cfg.model,
        cfg.loss,
        data.n_users,
        data.n_items,
        len(data.train_windows(cfg.backbone.max_len, cfg.stride)[0]),
        data.n_train_positions(cfg.backbone.max_len, cfg.stride),
    )
    if not cfg.tracking.enabled or not distributed.is_main():
        state = Trainer(model, data, cfg, out_dir, identity, on_epoch=on_epoch, tie_seed=tie_seed).fit(resume)
    else:
        state = _fit_tracked(cfg, model, data, out_dir, identity, resume, dataset, on_epoch, tie_seed)
    if distributed.is_main():
        _write_outputs(state, cfg, Path(metrics_path), Path(history_path))
    return state


def _fit_tracked(cfg, model, data, out_dir, identity, resume, dataset, on_epoch, tie_seed) -> TrainState:
    from h2rec.tracking.run import Run, load_run_id, save_run_id
    from h2rec.tracking.tags import run_tags

    previous = load_run_id(out_dir) if resume else None
    run_id = previous["run_id"] if previous and previous.get("experiment") == cfg.tracking.experiment else None
    with Run(cfg.tracking.experiment, run_id=run_id, run_name=f"{cfg.model}-{cfg.loss}-s{cfg.seed}") as mlrun:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_run_id(out_dir, mlrun.run_id, cfg.tracking.experiment)
        if run_id is None:
            mlrun.log_params({"train": cfg.model_dump(mode="json")})
            mlrun.set_tags(run_tags(dataset, cfg.model, cfg.loss, cfg.seed))

        def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
            mlrun.log_metrics(metrics, step=epoch)
            if on_epoch is not None:
                on_epoch(epoch, metrics)

        trainer = Trainer(model, data, cfg, out_dir, identity, on_epoch=log_epoch, tie_seed=tie_seed)
        # Where it ran, as resolved (train.device may say auto): seeds of one variant can come
        # from different machines, and the report can tell them apart.
        mlrun.set_tags({"device": trainer.device.type, "precision": effective_precision(trainer.device, cfg.precision)})
        state = trainer.fit(resume)
        best = {"best_valid/selection": state.best_score, "best_epoch": state.best_epoch}
        if state.best_ndcg_10 is not None:
            best["best_valid/ndcg_10"] = state.best_ndcg_10
        mlrun.log_metrics(best)
    return state


def _write_outputs(state: TrainState, cfg: TrainConfig, metrics_path: Path, history_path: Path) -> None:
    seconds = [h["epoch_seconds"] for h in state.history]
    write_json(
        {
            "model": cfg.model,
            "loss": cfg.loss,
            "epochs": state.epoch,
            "best_epoch": state.best_epoch,
            "best_valid_ndcg_10": state.best_ndcg_10,
            "best_valid_selection": state.best_score if state.history else None,
            "mean_epoch_seconds": sum(seconds) / len(seconds) if seconds else None,
        },
        metrics_path,
    )
    rows = state.history or [{"epoch": 0}]
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_path(history_path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
