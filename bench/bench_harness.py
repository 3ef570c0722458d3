"""Speed of the training and evaluation harness on Amazon Beauty (docs/harness.md).

    python bench/bench_harness.py speed                       # epoch time per loss, evaluation time, memory
    python bench/bench_harness.py scale --items 1000000       # full ranking over a 10^6-item catalogue

The data is the pipeline's own: bench/workspace.py runs the ingest and split stages into
data/bench/<dataset>/, so nothing the pipeline owns is touched. Accuracy comparisons are
sweeps (`python -m flows.sweep --grid experiments/main.yaml`, then `h2rec report`), not this
script. All timings are wall-clock on whatever machine runs this; on a shared machine they vary.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # workspace, beside this script


def dataset(name: str):
    import workspace

    from h2rec.data.sequences import SeqDataset

    return SeqDataset.load(workspace.prepare(name).prepared)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- speed ---------------------------------------------------------------------------------------
def speed(args) -> None:
    import torch
    import workspace

    from h2rec.config import EvaluateConfig
    from h2rec.eval.evaluator import Evaluator
    from h2rec.models.inputs import ModelInputs
    from h2rec.models.registry import build_model
    from h2rec.train.trainer import Trainer, seed_everything

    torch.set_num_threads(args.threads)
    data = dataset(args.dataset)
    users = data.train_users()
    print(
        f"{args.dataset}: {data.n_users} users, {data.n_items} items, {data.n_train_positions(50)} training positions, "
        f"{args.threads} threads"
    )
    for loss in args.losses:
        cfg = workspace.train_config(model="sasrec", loss=loss, epochs=1, progress=False, num_threads=args.threads)
        seed_everything(0)
        model = build_model(cfg, ModelInputs(data))
        trainer = Trainer(model, data, cfg, Path(tempfile.mkdtemp()), identity={})
        seconds, cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            trainer._train_epoch(1)
            seconds.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        best = min(seconds)
        print(
            f"train {loss:<16} epoch {best:6.1f} s wall, {min(cpu):6.1f} s CPU (runs: {', '.join(f'{s:.1f}' for s in seconds)})  "
            f"{len(users) / best:7.0f} sequences/s  {data.n_train_positions(50) / best:8.0f} positions/s  peak RSS {peak_rss_mb():.0f} MB"
        )
    if args.naive:
        print(f"train ce, padded to 50 {naive_epoch(data):6.1f} s (every batch padded to max_len, logits on all positions)")
    cfg = workspace.train_config(model="sasrec", progress=False)
    seed_everything(0)
    model = build_model(cfg, ModelInputs(data))
    ev = Evaluator(data, EvaluateConfig())
    t0 = time.perf_counter()
    _ = ev.negatives
    neg = time.perf_counter() - t0
    for protocol in ("full", "sampled"):
        times, cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            ev.cases(model, "test", 50, "right", (protocol,))
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(
            f"evaluate {protocol:<8} all {data.n_users} users: {min(times):.2f} s wall, {min(cpu):.2f} s CPU "
            f"(runs: {', '.join(f'{s:.2f}' for s in times)})"
        )
    print(f"sampled negatives drawn once: {neg:.2f} s; peak RSS {peak_rss_mb():.0f} MB")


def naive_epoch(data) -> float:
    """One CE epoch the plain way: batches padded to max_len, logits for every position."""
    import torch
    import torch.nn.functional as F
    import workspace

    from h2rec.data.sequences import Batch
    from h2rec.models.inputs import ModelInputs
    from h2rec.models.registry import build_model

    cfg = workspace.train_config(model="sasrec", progress=False)
    torch.manual_seed(0)
    model = build_model(cfg, ModelInputs(data))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    users = np.random.default_rng(0).permutation(data.train_users())
    t0 = time.perf_counter()
    for i in range(0, len(users), cfg.batch_size):
        b = data.train_batch(users[i : i + cfg.batch_size], 50, "left")
        pad = 50 - b.items.shape[1]
        items, targets = F.pad(b.items, (pad, 0)), F.pad(b.targets, (pad, 0))
        batch = Batch(items, b.users, b.lengths, "left", targets=targets)
        logits = model.sequence_states(batch) @ model.item_vectors(None).T
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


# -- scale ---------------------------------------------------------------------------------------
def scale(args) -> None:
    """Full-ranking evaluation over a synthetic catalogue of `--items` items: time and peak memory."""
    import pandas as pd
    import torch
    import workspace

    from h2rec.config import EvaluateConfig
    from h2rec.data.sequences import SeqDataset
    from h2rec.eval.evaluator import Evaluator
    from h2rec.models.inputs import ModelInputs
    from h2rec.models.registry import build_model

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 30, args.users)
    user = np.repeat(np.arange(args.users), lengths)
    pos = np.concatenate([np.arange(n) for n in lengths])
    back = np.repeat(lengths, lengths) - pos
    inter = pd.DataFrame(
        {
            "user": user,
            "item": rng.integers(1, args.items + 1, len(user)),
            "pos": pos,
            "split": np.select([back == 1, back == 2], ["test", "valid"], "train"),
        }
    )
    count = np.bincount(inter["item"][inter["split"] == "train"], minlength=args.items + 1)[1:]
    items = pd.DataFrame(
        {
            "item": np.arange(1, args.items + 1),
            "train_count": count,
            "popularity": np.where(count > np.quantile(count, 0.8), "head", "tail"),
            "bucket": np.minimum(np.argsort(np.argsort(count)) * 5 // args.items, 4),
        }
    )
    users = pd.DataFrame({"user": np.arange(args.users), "length_group": np.where(lengths - 2 <= 5, "short", "long")})
    data = SeqDataset.from_frames(inter, items, users)
    model = build_model(workspace.train_config(model="sasrec"), ModelInputs(data))
    base = peak_rss_mb()
    cfg = EvaluateConfig()
    t0 = time.perf_counter()
    m = Evaluator(data, cfg).evaluate(model, "test", 50, "right", ("full",))
    print(
        f"full ranking of {args.users} users over {args.items} items (user_batch {cfg.user_batch}, item_chunk "
        f"{cfg.item_chunk}): {time.perf_counter() - t0:.1f} s; peak RSS {peak_rss_mb():.0f} MB "
        f"({base:.0f} MB before evaluating); full/overall/hr_10 {m['full/overall/hr_10']:.4f} (random model)"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--losses", nargs="+", default=["ce", "bce", "sampled_softmax"])
    s.add_argument("--repeats", type=int, default=2)
    s.add_argument("--naive", action="store_true", help="also time a CE epoch padded to max_len")
    c = sub.add_parser("scale")
    c.add_argument("--items", type=int, default=1_000_000)
    c.add_argument("--users", type=int, default=5000)
    for q in (s, c):
        q.add_argument("--dataset", default="beauty")
        q.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    {"speed": speed, "scale": scale}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
