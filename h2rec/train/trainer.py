"""Train any `SequentialRecommender` with next-item prediction at every position.

Training examples are windows of at most `max_len` steps of a user's training prefix,
predicting item t+1 from items 0..t at every position (SASRec style): the last window of each
user, and with `train.window_stride` earlier windows of long histories too, so their early
targets are trained on as well (`SeqDataset.train_windows`). Batches are bucketed by
length and trimmed to their own longest row; the loss only sees real positions.

On `train.device` (auto: CUDA when present): the model moves there, an epoch's batches are cut
on the host and moved there together before the first step (no host copy per step), and on
CUDA the step runs under bf16 autocast unless `train.precision` is fp32 (`train.compile`
compiles it). Checkpoints are written from, and read to, whatever device.

Each epoch: train, evaluate full-ranking NDCG@10 on the validation split, write the full
state (`last.pt`: model, optimizer, RNG states, epoch, early-stopping counters), then the
best weights (`best.pt`) when the epoch improved. `fit(resume=True)` continues from `last.pt`;
an interrupted epoch is simply run again from the state saved before it, so the result is the
same as an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from h2rec.config import EvaluateConfig, TrainConfig
from h2rec.data.sequences import SeqDataset
from h2rec.devices import autocast, resolve_device
from h2rec.errors import Diverged
from h2rec.eval.evaluator import Evaluator
from h2rec.eval.metrics import selection_score
from h2rec.io import clear_stale_temps
from h2rec.models.base import SequentialRecommender
from h2rec.models.items import HidTable
from h2rec.train import checkpoint, distributed
from h2rec.train.batching import bucketed_batches

log = logging.getLogger(__name__)

VALID_METRIC = "full/overall/ndcg_10"
EpochHook = Callable[[int, dict[str, float]], None]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch; call before building a model so its init is fixed too."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainState:
    epoch: int = 0  # completed epochs
    best_epoch: int = 0
    best_score: float = float("-inf")
    bad_epochs: int = 0
    finished: bool = False
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def best_ndcg_10(self) -> float | None:
        """Validation NDCG@10 (overall) at the best epoch, which train.selection may not be."""
        best = [h for h in self.history if h["epoch"] == self.best_epoch]
        return best[0].get("valid/ndcg_10") if best else None


class Trainer:
    def __init__(
        self,
        model: SequentialRecommender,
        data: SeqDataset,
        cfg: TrainConfig,
        out_dir: Path,
        identity: dict[str, Any],
        on_epoch: EpochHook | None = None,
        tie_seed: int = EvaluateConfig().seed,
    ):
        """`tie_seed`: the order among tied scores in the per-epoch validation; pass
        `evaluate.seed` so that validation breaks ties as the final evaluation does."""
        self.device = resolve_device(cfg.device, "train.device")
        if self.device.type == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 for what stays in fp32 (the softmax over items)
        self.model, self.data, self.cfg, self.out_dir = model.to(self.device), data, cfg, Path(out_dir)
        self.identity = identity
        self.on_epoch = on_epoch
        self.evaluator = Evaluator(data, EvaluateConfig(user_batch=cfg.eval_batch_size, seed=tie_seed))
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay) if params else None
        self.rng = np.random.default_rng(cfg.seed)
        self.windows = data.train_windows(cfg.backbone.max_len, cfg.stride)  # (users, ends) of the examples
        self.state = TrainState()
        self.keep_frozen = self._pin_frozen()
        seed_everything(cfg.seed)  # dropout and negatives; batch order uses self.rng
        self.step_fn = distributed.wrap(model, self.device)  # plain, or DDP under torchrun
        if cfg.compile:
            self.step_fn = torch.compile(self.step_fn)

    # -- the loop ---------------------------------------------------------------------------
    def fit(self, resume: bool = False, max_epochs: int | None = None) -> TrainState:
        """Train until early stopping or `cfg.epochs`; `max_epochs` stops sooner (this call only)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if distributed.is_main():  # only rank 0 writes here
            for path in clear_stale_temps(self.out_dir):
                log.warning("removed %s, left by a run killed while writing", path)
        if resume:
            self._restore()
        if not self.model.trainable:
            self._save_best()
            self.state.finished = True
            self._save_last()
            return self.state
        stop_at = self.cfg.epochs if max_epochs is None else min(self.cfg.epochs, self.state.epoch + max_epochs)
        while not self.state.finished and self.state.epoch < stop_at:
            self._run_epoch()
        if self.state.epoch >= self.cfg.epochs and not self.state.finished:
            self.state.finished = True
            self._save_last()
        if not (self.out_dir / checkpoint.BEST).exists():
            self._save_best()  # epochs = 0: keep the untrained model so evaluation can run
        return self.state

    def _run_epoch(self) -> None:
        epoch = self.state.epoch + 1
        t0 = time.perf_counter()
        losses = self._train_epoch(epoch)
        if not np.isfinite(losses.get("total", 0.0)):
            raise Diverged(
                f"training loss became {losses['total']} in epoch {epoch} (train.lr={self.cfg.lr}, "
                f"train.grad_clip={self.cfg.grad_clip}); lower train.lr or set train.grad_clip, then retrain"
            )
        seconds = time.perf_counter() - t0
        metrics = self.evaluator.evaluate(self.model, "valid", self.cfg.backbone.max_len, self.cfg.padding, ("full",))
        score = selection_score(metrics, self.cfg.selection.weights())
        record = {
            "epoch": epoch,
            **{f"loss/{k}": v for k, v in losses.items()},
            "valid/ndcg_10": metrics[VALID_METRIC],
            "valid/selection": score,
            "epoch_seconds": seconds,
            "sequences_per_s": len(self.windows[0]) / seconds,  # training windows (= users without window_stride)
        }
        self.state.history.append(record)
        self.state.epoch = epoch
        log.info(
            "epoch %d: loss %.4f valid ndcg@10 %.4f, selection %.4f (%.1fs)",
            epoch,
            losses["total"],
            record["valid/ndcg_10"],
            score,
            seconds,
        )
        improved = score > self.state.best_score
        if improved:
            self.state.best_epoch, self.state.best_score, self.state.bad_epochs = epoch, score, 0
        else:
            self.state.bad_epochs += 1
            if self.state.bad_epochs >= self.cfg.patience and epoch >= self.cfg.min_epochs:
                self.state.finished = True
                log.info(
                    "early stop at epoch %d: best validation selection score %.4f at epoch %d",
                    epoch,
                    self.state.best_score,
                    self.state.best_epoch,
                )
        # last.pt first: a crash before best.pt is written leaves a state whose best epoch is
        # its own weights, which _restore writes to best.pt. The other order could leave a
        # best.pt from an epoch that a resumed, non-deterministic (GPU) rerun scores lower.
        self._save_last()
        if improved:
            self._save_best()
        if self.on_epoch and distributed.is_main():
            self.on_epoch(epoch, {k: v for k, v in record.items() if k != "epoch"})

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, data = self.cfg, self.data
        L = cfg.backbone.max_len
        users, ends = self.windows
        lengths = np.minimum(ends - data.offsets[users], L)
        chunks = bucketed_batches(np.arange(len(users)), lengths, cfg.batch_size, self.rng)
        # The whole epoch's batches go to the device at once, before the first step.
        batches = []
        for c in chunks:
            rows = distributed.shard(c)
            batches.append(data.train_batch(users[rows], L, cfg.padding, ends[rows]).to(self.device, non_blocking=True))
        self.model.train()
        self.model.begin_epoch()
        # Loss terms are summed on the device (float64) and read once per epoch: reading them
        # every step would make the host wait for the GPU at every step.
        sums: dict[str, torch.Tensor] = {}
        seen, t0 = 0, time.perf_counter()
        every = 1 if self.device.type == "cpu" else 50  # progress-bar updates (each one syncs)
        # disable=None: the bar is drawn on a terminal only, not into logs
        bar = tqdm(batches, desc=f"epoch {epoch}", unit="batch", disable=None if cfg.progress else True, leave=False)
        for i, batch in enumerate(bar):
            with autocast(self.device, cfg.precision):
                loss, terms = self.step_fn(batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            for restore in self.keep_frozen:
                restore()
            for name, value in {"total": loss.detach(), **terms}.items():
                sums[name] = sums.get(name, 0.0) + value.detach().double()
            seen += len(batch.users) * distributed.world()
            if i % every == 0:
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}", seq_s=f"{seen / (time.perf_counter() - t0):.0f}")
        return distributed.mean({k: float(v) / max(len(batches), 1) for k, v in sums.items()})

    # -- checkpoints ------------------------------------------------------------------------
    def _payload(self) -> dict[str, Any]:
        return {
            "identity": json.dumps(self.identity, sort_keys=True),
            "config": self.cfg.model_dump_json(),
            "model": self.model.state_dict(),
        }

    def _save_best(self) -> None:
        if not distributed.is_main():
            return
        payload = self._payload()
        payload["epoch"] = self.state.epoch
        checkpoint.save(self.out_dir / checkpoint.BEST, payload)

    def _save_last(self) -> None:
        if not distributed.is_main():
            distributed.barrier()  # wait until rank 0 has written it
            return
        payload = self._payload()
        payload.update(
            optimizer=self.optimizer.state_dict() if self.optimizer else {},
            torch_rng=torch.get_rng_state(),
            cuda_rng=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            numpy_rng=json.dumps(self.rng.bit_generator.state),
            state=json.dumps(self.state.__dict__),
        )
        checkpoint.save(self.out_dir / checkpoint.LAST, payload)
        distributed.barrier()

    def _restore(self) -> None:
        path = self.out_dir / checkpoint.LAST
        if not path.exists():
            log.info("no %s to resume from: starting from scratch", path)
            return
        ckpt = checkpoint.load(path)
        checkpoint.check_identity(ckpt, self.identity, path)
        self.model.load_state_dict(ckpt["model"])
        self.keep_frozen = self._pin_frozen()
        if self.optimizer and ckpt["optimizer"]:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"])
        if ckpt.get("cuda_rng") and torch.cuda.is_available():  # dropout on a GPU draws from its own generator
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        self.rng.bit_generator.state = json.loads(ckpt["numpy_rng"])
        self.state = TrainState(**json.loads(ckpt["state"]))
        if self.state.epoch < self.cfg.epochs and (
            self.state.bad_epochs < self.cfg.patience or self.state.epoch < self.cfg.min_epochs
        ):
            self.state.finished = False  # more epochs or patience were granted since
        if self.state.best_epoch == self.state.epoch > 0:
            self._save_best()  # these weights are the best: the run may have stopped before best.pt
        log.info("resumed from %s after epoch %d", path, self.state.epoch)

    def _pin_frozen(self) -> list[Callable[[], None]]:
        """Rows of items absent from training stay as they are (HidTable.frozen): with weight
        decay, AdamW would shrink them too, though they never get a gradient."""
        if self.cfg.weight_decay == 0:
            return []
        return [t.pin_frozen() for t in self.model.modules() if isinstance(t, HidTable) and t.has_frozen]
