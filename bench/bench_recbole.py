"""Our `sasrec` and `h2rec` against RecBole's SASRec on the same Amazon Beauty split, same cores.

    python bench/bench_recbole.py setup                  # RecBole 1.2.1 in .venv-recbole (its own pins)
    python bench/bench_recbole.py run --epochs 30 --threads 2
    python bench/bench_recbole.py report                 # markdown table + plot for docs/benchmarks.md

`run` exports our prepared Beauty split (the one of bench/workspace.py, made by the pipeline's stages: k-core 5,
leave-one-out) to RecBole atomic files, with each user's position as the timestamp so that
RecBole's time-ordered leave-one-out reproduces exactly our train/valid/test items. Then it
trains, one after another with the same number of torch threads, our `sasrec`, our `h2rec`
and RecBole's SASRec (bench/recbole_peer.py, in its environment): same backbone size
(2 blocks x 64, 1 head, FFN 256, dropout 0.5, max length 50), full-softmax cross-entropy,
lr 1e-3, validation NDCG@10 by full ranking after each epoch, the same epoch budget and
patience. Batch size is each tool's own (RecBole's default 2,048 prefixes, ours 256 users, the
measured settings of bench/workspace.py).
Each run writes a JSON under bench/results/peers/ with the wall time at every validation, so
time-to-quality can be read off: the wall time each model needs to reach RecBole's best
validation NDCG@10. Runs already there are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "peers"
EXPORT = ROOT / "data" / "bench" / "recbole"
PEER_VENV = ROOT / ".venv-recbole"
PEER_PINS = ["recbole==1.2.1", "setuptools<81", "numpy<2", "pandas<2.3"]


def setup() -> None:
    """RecBole's pins clash with ours (numpy<2, pandas<2.3), so it gets its own environment."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)  # the CPU wheel first; see README
    subprocess.run([*pip, *PEER_PINS], check=True)
    print(f"RecBole environment ready: {python}")


def export(dataset: str = "beauty") -> Path:
    """<EXPORT>/<dataset>/<dataset>.inter: user, item, timestamp = position in the user's sequence."""
    sys.path.insert(0, str(ROOT / "bench"))
    import workspace

    from h2rec.io import read_parquet

    prepared = workspace.prepare(dataset).prepared
    inter = read_parquet(prepared / "interactions.parquet").sort_values(["user", "pos"])
    path = EXPORT / dataset / f"{dataset}.inter"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            f.write("user_id:token\titem_id:token\ttimestamp:float\n")
            for u, i, p in zip(inter["user"], inter["item"], inter["pos"]):
                f.write(f"u{u}\ti{i}\t{p}\n")
    return path


def budget_flags(args: argparse.Namespace) -> list[str]:
    """The training budget both sides of the comparison run with."""
    return [
        "--epochs",
        str(args.epochs),
        "--patience",
        str(args.patience),
        "--threads",
        str(args.threads),
        "--seed",
        str(args.seed),
    ]


def run_peer(args: argparse.Namespace) -> None:
    out = RESULTS / f"recbole-{args.dataset}.json"
    if out.exists():
        return
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} not found: run `python bench/bench_recbole.py setup` first")
    print(f"[{time.strftime('%H:%M:%S')}] RecBole SASRec", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    subprocess.run(
        [
            str(python),
            str(ROOT / "bench" / "recbole_peer.py"),
            "--data-dir",
            str(EXPORT),
            "--dataset",
            args.dataset,
            "--out",
            str(out),
            *budget_flags(args),
        ],
        check=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )


def train_ours(dataset: str, variant: str, epochs: int, patience: int, threads: int, seed: int) -> dict:
    """One of our models with the training defaults, recording the wall time at each validation."""
    import torch

    sys.path.insert(0, str(ROOT / "bench"))
    import workspace

    from h2rec.config import EvaluateConfig
    from h2rec.eval.evaluator import Evaluator
    from h2rec.models.registry import build_model
    from h2rec.train import checkpoint
    from h2rec.train.inputs import load_inputs
    from h2rec.train.trainer import Trainer

    torch.set_num_threads(threads)
    layout = workspace.prepare(dataset)
    t0 = time.perf_counter()
    cfg = workspace.train_config(model=variant, seed=seed, epochs=epochs, patience=patience, num_threads=threads, progress=False)
    inputs = load_inputs(cfg, layout)
    data = inputs.data
    prep_seconds = time.perf_counter() - t0
    torch.manual_seed(seed)
    model = build_model(cfg, inputs)
    timeline: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        started, cpu_started = time.perf_counter(), time.process_time()

        def on_epoch(epoch: int, record: dict) -> None:
            timeline.append(
                {
                    "epoch": epoch,
                    "train_seconds": record["epoch_seconds"],
                    "loss": record["loss/total"],
                    "valid_ndcg_10": record["valid/ndcg_10"],
                    "wall": time.perf_counter() - started,
                    "cpu": time.process_time() - cpu_started,
                }
            )
            print(
                f"epoch {epoch}: train {record['epoch_seconds']:.1f} s, valid NDCG@10 {record['valid/ndcg_10']:.4f}", flush=True
            )

        state = Trainer(model, data, cfg, Path(tmp), identity={"bench": variant}, on_epoch=on_epoch).fit()
        fit_seconds = time.perf_counter() - started
        model.load_state_dict(checkpoint.load(Path(tmp) / checkpoint.BEST)["model"])
    t0 = time.perf_counter()
    test = Evaluator(data, EvaluateConfig()).evaluate(model, "test", cfg.backbone.max_len, cfg.padding, ("full",))
    test_seconds = time.perf_counter() - t0
    for i, row in enumerate(timeline):  # validation time = wall between epochs minus training
        row["valid_seconds"] = row["wall"] - (timeline[i - 1]["wall"] if i else 0.0) - row["train_seconds"]
    return {
        "model": variant,
        "threads": threads,
        "n_users": data.n_users,
        "n_items": data.n_items,
        "train_samples": int(len(data.train_users())),
        "prep_seconds": prep_seconds,
        "fit_seconds": fit_seconds,
        "timeline": timeline,
        "best_valid_ndcg_10": state.best_ndcg_10,
        "best_epoch": state.best_epoch,
        "test": {"recall@10": test["full/overall/hr_10"], "ndcg@10": test["full/overall/ndcg_10"]},
        "test_seconds": test_seconds,
        "batch_size": cfg.batch_size,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_all(args: argparse.Namespace) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    export(args.dataset)
    for variant in args.ours:
        out = RESULTS / f"{variant}-{args.dataset}.json"
        if out.exists():
            continue
        print(f"[{time.strftime('%H:%M:%S')}] ours: {variant}", flush=True)
        cmd = [
            sys.executable,
            __file__,
            "ours",
            "--variant",
            variant,
            "--dataset",
            args.dataset,
            *budget_flags(args),
        ]
        subprocess.run(cmd, check=True)
    run_peer(args)


def ours_cmd(args: argparse.Namespace) -> None:
    result = train_ours(args.dataset, args.variant, args.epochs, args.patience, args.threads, args.seed)
    out = RESULTS / f"{args.variant}-{args.dataset}.json"
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("best_valid_ndcg_10", "test", "fit_seconds", "peak_rss_mb")}))


# -- report ------------------------------------------------------------------------------------
def time_to(timeline: list[dict], target: float) -> dict | None:
    """The first validation reaching `target`: its epoch, wall and CPU seconds; None if never."""
    for row in timeline:
        if row["valid_ndcg_10"] >= target:
            return row
    return None


def load(dataset: str) -> dict[str, dict]:
    runs = {}
    for name in ("recbole", "sasrec", "h2rec"):
        path = RESULTS / f"{name}-{dataset}.json"
        if path.exists():
            runs[name] = json.loads(path.read_text())
    return runs


def peer_table(dataset: str = "beauty") -> list[str]:
    runs = load(dataset)
    if "recbole" not in runs:
        return ["(no RecBole run yet: `python bench/bench_recbole.py run`)"]
    peer = runs["recbole"]
    target = peer["best_valid_ndcg_10"]
    base = time_to(peer["timeline"], target)
    labels = {"recbole": "RecBole 1.2.1 SASRec", "sasrec": "ours `sasrec`", "h2rec": "ours `h2rec`"}
    lines = [
        f"Target quality = RecBole's best validation NDCG@10 within the budget: **{target:.4f}** (its epoch {base['epoch']}).",
        "",
        "| model | s/epoch (train) | sequences/s | valid s | epochs run (best) | time to target: wall / CPU "
        "| x sooner than RecBole: wall / CPU | test Recall@10 | test NDCG@10 | test eval s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in runs.items():
        tl = run["timeline"]
        epoch_s = float(np.median([r["train_seconds"] for r in tl]))
        valid_s = float(np.median([r["valid_seconds"] for r in tl]))
        hit = time_to(tl, target)
        best_epoch = max(tl, key=lambda r: r["valid_ndcg_10"])["epoch"]
        reach = f"{hit['wall']:,.0f} s / {hit['cpu']:,.0f} s (epoch {hit['epoch']})" if hit else "not reached"
        ratio = f"{base['wall'] / hit['wall']:.1f}x / {base['cpu'] / hit['cpu']:.1f}x" if hit else "-"
        lines.append(
            f"| {labels[name]} | {epoch_s:.1f} | {run['train_samples'] / epoch_s:,.0f} | {valid_s:.1f} | "
            f"{len(tl)} ({best_epoch}) | {reach} | {ratio} | {run['test']['recall@10']:.4f} | "
            f"{run['test']['ndcg@10']:.4f} | {run['test_seconds']:.1f} | {run['peak_rss_mb']:,.0f} |"
        )
    lines += [
        "",
        "Sequences/s counts what each tool calls a training sample: RecBole trains every prefix of every "
        f"training sequence ({peer['train_samples']:,} samples), ours every user's sequence at once "
        f"({runs.get('sasrec', peer)['train_samples']:,} users), so both see every training target once per epoch.",
    ]
    if "sasrec" in runs and "h2rec" in runs:
        s = float(np.median([r["train_seconds"] for r in runs["sasrec"]["timeline"]]))
        h = float(np.median([r["train_seconds"] for r in runs["h2rec"]["timeline"]]))
        lines.append(f"`h2rec` epoch / `sasrec` epoch in this run: **{h / s:.2f}x**.")
    return lines


def quality_plot(dataset: str, path: Path) -> Path | None:
    runs = load(dataset)
    if not runs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for name, run in runs.items():
        tl = run["timeline"]
        by_epoch.plot([r["epoch"] for r in tl], [r["valid_ndcg_10"] for r in tl], marker="o", ms=3, label=name)
        by_time.plot([r["wall"] / 60 for r in tl], [r["valid_ndcg_10"] for r in tl], marker="o", ms=3, label=name)
    if "recbole" in runs:
        for ax in (by_epoch, by_time):
            ax.axhline(runs["recbole"]["best_valid_ndcg_10"], ls=":", c="grey", lw=1)
    by_epoch.set_xlabel("epoch (each tool's own)")
    by_epoch.set_ylabel("validation NDCG@10 (full ranking)")
    by_time.set_xlabel("wall minutes since training started (validation included)")
    by_epoch.set_title(f"{dataset}: quality by epoch")
    by_time.set_title("quality against time, same threads")
    by_time.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("setup", help="create .venv-recbole with RecBole 1.2.1 and its pins")
    run = sub.add_parser("run", help="export the split, train RecBole SASRec, ours sasrec and h2rec (missing ones)")
    ours = sub.add_parser("ours", help="one of our models (used by `run`)")
    for p in (run, ours):
        p.add_argument("--dataset", default="beauty")
        p.add_argument("--epochs", type=int, default=30, help="epoch budget, the same for every model")
        p.add_argument("--patience", type=int, default=10)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--seed", type=int, default=0)
    run.add_argument("--ours", nargs="+", default=["sasrec", "h2rec"])
    ours.add_argument("--variant", required=True)
    rep = sub.add_parser("report", help="print the markdown table and draw docs/figures/peer_quality_time.png")
    rep.add_argument("--dataset", default="beauty")
    args = parser.parse_args()
    if args.cmd == "setup":
        setup()
    elif args.cmd == "run":
        run_all(args)
    elif args.cmd == "ours":
        ours_cmd(args)
    else:
        print("\n".join(peer_table(args.dataset)))
        if path := quality_plot(args.dataset, ROOT / "docs" / "figures" / "peer_quality_time.png"):
            print(f"\n![quality against time](figures/{path.name})")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
