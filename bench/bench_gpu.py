"""Training and evaluation speed on a GPU (or on the CPU, where this script is tested first).

    python bench/bench_gpu.py                                   # Beauty, sasrec + h2rec, device auto
    python bench/bench_gpu.py --device cpu --threads 2 --epochs 1
    python bench/bench_gpu.py --full-train                      # also train to early stop, then test
    python bench/bench_gpu.py --compile                         # torch.compile the training step

Per model (the pipeline's own trainer and evaluator, params.yaml's `train` at the measured
settings of bench/workspace.py):
  epoch       seconds of one training epoch after a warm-up one (the trainer's own epoch: the
              epoch's batches moved to the device at once, bf16 autocast on CUDA unless
              --precision fp32), sequences/s, peak device memory (CUDA) or peak RSS (CPU);
  FLOPs       one epoch's forward + backward FLOPs counted by torch's FlopCounterMode (matmuls,
              attention; elementwise work not counted, as usual for MFU) in a separate pass;
  MFU         FLOPs / epoch seconds / the dense matmul rate measured in the same run (bf16 on
              CUDA, fp32 on the CPU, best of a few shapes);
  evaluate    full ranking and sampled-100 of every test user (the evaluator, on the device);
  train       with --full-train: a training to early stop, its wall time and test NDCG@10.
RecBole's SASRec is timed as well when `recbole` imports here (`--recbole`).

Data: bench/workspace.py's prepared copy of the dataset (the pipeline's stages), or `--layout
DIR` with prepared, sid and features folders (what a device machine gets carried). Writes one
JSON (`--out`, default bench/results/gpu/<device>-<dataset>.json) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # bench_mfu, workspace
RESULTS = ROOT / "bench" / "results" / "gpu"


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device, seconds: float = 1.0) -> dict[str, float]:
    """Best dense matmul TFLOP/s over a few shapes: bf16 on CUDA, fp32 on the CPU."""
    import torch

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    sizes = [(8192, 8192, 8192), (16384, 4096, 4096)] if device.type == "cuda" else [(1024, 1024, 1024), (2048, 64, 12101)]
    best = {}
    for m, k, n in sizes:
        a, b = torch.randn(m, k, device=device, dtype=dtype), torch.randn(k, n, device=device, dtype=dtype)
        for _ in range(3):
            a @ b
        sync(device)
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            a @ b
            reps += 1
            if device.type == "cuda" and reps % 20 == 0:
                sync(device)
        sync(device)
        best[f"{m}x{k}x{n}"] = 2 * m * k * n * reps / (time.perf_counter() - t0) / 1e12
    return {"dtype": str(dtype).removeprefix("torch."), "tflops": max(best.values()), "shapes": best}


def peak_memory_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def epoch_flops(trainer) -> float:
    """Forward + backward FLOPs of one training epoch (the weights change: a throwaway pass)."""
    import torch
    from bench_mfu import addmm_inplace_flop  # the counter's rule for the chunked softmax's addmm_
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.addmm_: addmm_inplace_flop})
    with counter:
        trainer._train_epoch(0)
    return float(counter.get_total_flops())


def bench_model(name: str, inputs, args, device, peak_tflops: float) -> dict:
    import torch
    import workspace  # bench/ is on sys.path (above)

    from h2rec.config import EvaluateConfig, load_params
    from h2rec.eval.evaluator import Evaluator
    from h2rec.models.registry import build_model
    from h2rec.train.trainer import Trainer, seed_everything

    base = load_params(ROOT / "params.yaml", {"train": workspace.MEASURED_AT}).train
    cfg = base.model_copy(
        update={"model": name, "device": str(device), "precision": args.precision, "compile": args.compile, "progress": False}
    )
    data = inputs.data
    seed_everything(0)
    model = build_model(cfg, inputs)
    out_dir = Path(tempfile.mkdtemp(prefix=f"bench-gpu-{name}-"))
    trainer = Trainer(model, data, cfg, out_dir, identity={"bench": name})
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer._train_epoch(1)  # warm-up: allocator, cuDNN/cuBLAS choices, compilation
    times = []
    for e in range(args.epochs):
        sync(device)
        t0 = time.perf_counter()
        trainer._train_epoch(2 + e)
        sync(device)
        times.append(time.perf_counter() - t0)
    epoch = min(times)
    flops = epoch_flops(trainer)
    evaluator = Evaluator(data, EvaluateConfig(device=str(device)))
    evaluator.cases(model, "test", cfg.backbone.max_len, cfg.padding)  # warm-up (and the negatives drawn)
    eval_times = {}
    for protocol in ("full", "sampled"):
        sync(device)
        t0 = time.perf_counter()
        evaluator.cases(model, "test", cfg.backbone.max_len, cfg.padding, (protocol,))
        sync(device)
        eval_times[protocol] = time.perf_counter() - t0
    row = {
        "epoch_seconds": epoch,
        "epoch_runs": times,
        "sequences_per_s": len(data.train_users()) / epoch,
        "peak_memory_mb": peak_memory_mb(device),
        "epoch_tflop": flops / 1e12,
        "achieved_tflops": flops / epoch / 1e12,
        "mfu": flops / epoch / 1e12 / peak_tflops,
        "eval_full_seconds": eval_times["full"],
        "eval_sampled_seconds": eval_times["sampled"],
        "users": data.n_users,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if args.full_train:
        full = Trainer(build_model(cfg, inputs), data, cfg, Path(tempfile.mkdtemp()), identity={"bench": name})
        seed_everything(cfg.seed)
        sync(device)
        t0 = time.perf_counter()
        state = full.fit()
        sync(device)
        row["train_to_early_stop_seconds"] = time.perf_counter() - t0
        row["train_epochs"], row["best_epoch"] = state.epoch, state.best_epoch
        from h2rec.train import checkpoint

        full.model.load_state_dict(checkpoint.load(full.out_dir / checkpoint.BEST)["model"])
        test = evaluator.evaluate(full.model, "test", cfg.backbone.max_len, cfg.padding)
        row["test"] = {
            k: test[k] for k in ("full/overall/ndcg_10", "full/overall/hr_10", "full/tail/ndcg_10", "sampled100/overall/ndcg_10")
        }
    return row


def recbole_peer(args) -> dict | None:
    try:
        import recbole  # noqa: F401
    except ImportError:
        print("RecBole is not installed here: its SASRec is not timed (bench/bench_recbole.py times it on the CPU)")
        return None
    print("RecBole imports here: time it with bench/bench_recbole.py run --threads N on this machine")
    return {"installed": True}


def load_inputs_for(args):
    from h2rec.config import TrainConfig
    from h2rec.models.inputs import Needs
    from h2rec.paths import Layout
    from h2rec.train.inputs import load_inputs

    if args.layout:
        layout = Layout.under(args.layout)
    else:
        import workspace

        layout = workspace.prepare(args.dataset)
    return load_inputs(TrainConfig(), layout, Needs(sid=True))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="beauty")
    parser.add_argument("--layout", type=Path, help="a folder with data/prepared and data/sid (instead of the workspace)")
    parser.add_argument("--models", nargs="+", default=["sasrec", "h2rec"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after the warm-up one (the best is kept)")
    parser.add_argument("--full-train", action="store_true", help="also train each model to early stop and test it")
    parser.add_argument("--recbole", action="store_true")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    import torch

    from h2rec.devices import resolve_device

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or 'cpu'} x{args.threads} threads"
    )
    inputs = load_inputs_for(args)
    peak = matmul_rate(device)
    result = {
        "device": name,
        "torch": torch.__version__,
        "dataset": args.dataset,
        "precision": args.precision,
        "compile": args.compile,
        "matmul": peak,
        "models": {},
    }
    print(
        f"{name}: best {peak['dtype']} matmul {peak['tflops']:.2f} TFLOP/s; {inputs.data.n_users} users, {inputs.data.n_items} items"
    )
    for model in args.models:
        row = bench_model(model, inputs, args, device, peak["tflops"])
        result["models"][model] = row
        print(
            f"{model:8s} epoch {row['epoch_seconds']:7.2f} s  {row['sequences_per_s']:9.0f} seq/s  peak {row['peak_memory_mb']:8.0f} MB  "
            f"{row['epoch_tflop']:.2f} TFLOP/epoch  MFU {100 * row['mfu']:5.2f}%  eval full {row['eval_full_seconds']:.2f} s, "
            f"sampled {row['eval_sampled_seconds']:.2f} s"
            + (
                f"  train {row['train_to_early_stop_seconds']:.0f} s ({row['train_epochs']} ep), test {row['test']}"
                if "test" in row
                else ""
            )
        )
    # The rate is measured again after the models, and the better of the two kept: on a shared
    # machine one measurement can fall in a busy moment.
    again = matmul_rate(device)
    if again["tflops"] > peak["tflops"]:
        for row in result["models"].values():
            row["mfu"] = row["achieved_tflops"] / again["tflops"]
        result["matmul"] = peak = again
    print(f"matmul rate used for MFU: {peak['tflops']:.3f} TFLOP/s")
    if len(result["models"]) > 1 and "sasrec" in result["models"]:
        s = result["models"]["sasrec"]["epoch_seconds"]
        for model, row in result["models"].items():
            if model != "sasrec":
                print(f"{model} / sasrec epoch time: {row['epoch_seconds'] / s:.2f}x")
    if args.recbole:
        result["recbole"] = recbole_peer(args)
    out = args.out or RESULTS / f"{device.type}-{args.dataset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {out}")
    return result


if __name__ == "__main__":
    main()
