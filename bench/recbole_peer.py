"""Train RecBole 1.2.1's SASRec on atomic files exported by bench/bench_recbole.py.

Runs inside the separate RecBole environment (see bench/bench_recbole.py `setup`), so it imports
nothing from h2rec. Writes one JSON: per-epoch training and validation seconds, validation
NDCG@10 with the wall and CPU time since training started, test Recall/NDCG@10, peak RSS.

    .venv-recbole/bin/python bench/recbole_peer.py --data-dir data/bench/recbole --dataset beauty \
        --epochs 10 --threads 2 --out bench/results/peers/recbole-beauty.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

# RecBole reloads its best checkpoint with a plain torch.load, which torch >= 2.6 refuses.
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

import torch  # noqa: E402
from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.model.sequential_recommender import SASRec  # noqa: E402
from recbole.trainer import Trainer  # noqa: E402
from recbole.utils import init_seed  # noqa: E402


def config_dict(args: argparse.Namespace, checkpoints: str) -> dict:
    """RecBole's SASRec defaults, with what must match our run: data, split, length, size, loss."""
    return {
        "data_path": str(Path(args.data_dir).resolve()),
        "checkpoint_dir": checkpoints,
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        # The export is already 5-core and ordered; RecBole must not filter or reorder it.
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        "eval_args": {"split": {"LS": "valid_and_test"}, "group_by": "user", "order": "TO", "mode": "full"},
        "MAX_ITEM_LIST_LENGTH": args.max_len,
        "hidden_size": args.hidden,
        "inner_size": args.ffn,
        "n_layers": args.layers,
        "n_heads": args.heads,
        "hidden_dropout_prob": args.dropout,
        "attn_dropout_prob": args.dropout,
        "hidden_act": "gelu",
        "loss_type": "CE",
        "train_neg_sample_args": None,
        "epochs": args.epochs,
        "train_batch_size": args.batch_size,
        "learning_rate": args.lr,
        "eval_step": 1,
        "stopping_step": args.patience,
        "eval_batch_size": 4096,
        "metrics": ["Recall", "NDCG"],
        "topk": [10],
        "valid_metric": "NDCG@10",
        "seed": args.seed,
        "reproducibility": True,
        "show_progress": False,
        "worker": 0,
        "log_wandb": False,
    }


class TimedTrainer(Trainer):
    """RecBole's trainer, timing each training epoch and each validation pass."""

    def __init__(self, config, model):
        super().__init__(config, model)
        self.timeline: list[dict] = []
        self.started = time.perf_counter()
        self.cpu_started = time.process_time()

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        t0 = time.perf_counter()
        loss = super()._train_epoch(train_data, epoch_idx, loss_func, show_progress)
        self.timeline.append(
            {
                "epoch": epoch_idx + 1,
                "train_seconds": time.perf_counter() - t0,
                "loss": float(sum(loss) if isinstance(loss, tuple) else loss),
            }
        )
        return loss

    def _valid_epoch(self, valid_data, show_progress=False):
        t0 = time.perf_counter()
        score, result = super()._valid_epoch(valid_data, show_progress)
        row = self.timeline[-1]
        row.update(
            {
                "valid_seconds": time.perf_counter() - t0,
                "valid_ndcg_10": float(result["ndcg@10"]),
                "valid_recall_10": float(result["recall@10"]),
                "wall": time.perf_counter() - self.started,
                "cpu": time.process_time() - self.cpu_started,
            }
        )
        print(f"epoch {row['epoch']}: train {row['train_seconds']:.1f} s, valid NDCG@10 {row['valid_ndcg_10']:.4f}", flush=True)
        return score, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True, help="folder holding <dataset>/<dataset>.inter")
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=2048, help="RecBole's default")
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--ffn", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as checkpoints:
        config = Config(model="SASRec", dataset=args.dataset, config_dict=config_dict(args, checkpoints))
        init_seed(config["seed"], config["reproducibility"])
        torch.set_num_threads(args.threads)
        t0 = time.perf_counter()
        dataset = create_dataset(config)
        train_data, valid_data, test_data = data_preparation(config, dataset)
        prep_seconds = time.perf_counter() - t0
        model = SASRec(config, train_data.dataset).to(config["device"])
        trainer = TimedTrainer(config, model)
        trainer.started, trainer.cpu_started = time.perf_counter(), time.process_time()
        best_valid, _ = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
        fit_seconds = time.perf_counter() - trainer.started
        t0 = time.perf_counter()
        test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
        test_seconds = time.perf_counter() - t0

    result = {
        "peer": "RecBole 1.2.1 SASRec",
        "torch": torch.__version__,
        "config": config_dict(args, ""),
        "threads": args.threads,
        "n_users": int(dataset.user_num - 1),
        "n_items": int(dataset.item_num - 1),
        "train_samples": len(train_data.dataset),
        "prep_seconds": prep_seconds,
        "fit_seconds": fit_seconds,
        "timeline": trainer.timeline,
        "best_valid_ndcg_10": float(best_valid),
        "test": {k: float(v) for k, v in test.items()},
        "test_seconds": test_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("best_valid_ndcg_10", "test", "fit_seconds", "peak_rss_mb")}))


if __name__ == "__main__":
    main()
