"""How close training comes to this machine's limit: matmul throughput, model FLOP utilisation,
and where an epoch's time goes.

    python bench/bench_mfu.py matmul --threads 1 2        # GFLOP/s for the shapes training uses
    python bench/bench_mfu.py mfu --models sasrec h2rec --threads 2
    python bench/bench_mfu.py profile --model sasrec --threads 2
    python bench/bench_mfu.py batch-sizes --threads 2     # throughput by batch size
    python bench/bench_mfu.py plot                        # ... drawn into docs/figures/
    python bench/bench_mfu.py cost --grid experiments/fidelity.yaml --threads 2   # step time vs SASRec
    python bench/bench_mfu.py dropout --threads 2           # the dropout masks, three ways
    python bench/bench_mfu.py scoring --threads 2           # the softmax block: 64-wide, 128-wide, SID half through the codes

All on the prepared Amazon Beauty split of bench/workspace.py (the pipeline's own stages). FLOPs of a training step are
counted by torch's own `torch.utils.flop_counter.FlopCounterMode` (forward + backward of
matmuls, attention and convolutions; elementwise work is not counted, as usual for MFU), over
one full epoch of the length-bucketed batches the trainer uses; the time is that of the same
epoch without the counter. MFU = counted FLOPs / time / the best dense matmul GFLOP/s measured
in the same process with the same threads. Results go to bench/results/mfu/*.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # workspace, beside this script
RESULTS = ROOT / "bench" / "results" / "mfu"
DATASET = "beauty"
FIGURE = ROOT / "docs" / "figures" / "throughput_batch_size.png"


def matmul_gflops(m: int, k: int, n: int, seconds: float = 1.0) -> float:
    import torch

    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    return 2 * m * k * n * reps / (time.perf_counter() - t0) / 1e9


def shapes(n_items: int, tokens: int = 2048, hidden: int = 64, ffn: int = 256) -> dict[str, tuple[int, int, int]]:
    """(m, k, n) of the products a SASRec training step runs; tokens ~ one trimmed batch's positions."""
    return {
        "projection (tokens x 64 @ 64 x 64)": (tokens, hidden, hidden),
        "FFN up (tokens x 64 @ 64 x 256)": (tokens, hidden, ffn),
        "FFN down (tokens x 256 @ 256 x 64)": (tokens, ffn, hidden),
        f"logits (tokens x 64 @ 64 x {n_items})": (tokens, hidden, n_items),
        "square 1024^3 (reference)": (1024, 1024, 1024),
    }


def matmul_cmd(args: argparse.Namespace) -> dict:
    import torch

    n_items = load()[0].n_items
    out = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        out[str(threads)] = {name: matmul_gflops(*s) for name, s in shapes(n_items).items()}
        for name, g in out[str(threads)].items():
            print(f"{threads} thread(s)  {name:42s} {g:8.1f} GFLOP/s")
    return out


def load(dataset: str = DATASET, needs=None):
    """The inputs every model here is built from (the pipeline's stages, bench/workspace.py)."""
    import workspace

    from h2rec.config import TrainConfig
    from h2rec.models.inputs import Needs
    from h2rec.train.inputs import load_inputs

    inputs = load_inputs(TrainConfig(), workspace.prepare(dataset), needs or Needs(sid=True))
    return inputs.data, inputs


def build(name: str, data, inputs, batch_size: int = 256):
    import torch
    import workspace

    from h2rec.models.registry import build_model

    torch.manual_seed(0)
    cfg = workspace.train_config(model=name, progress=False, batch_size=batch_size)
    model = build_model(cfg, inputs)
    return model, cfg, torch.optim.AdamW(model.parameters(), lr=cfg.lr)


def epoch_batches(data, cfg, seed: int = 0):
    from h2rec.train.batching import bucketed_batches

    users = data.train_users()
    lengths = np.minimum(data.n_train[users] - 1, cfg.backbone.max_len)
    chunks = bucketed_batches(users, lengths, cfg.batch_size, np.random.default_rng(seed))
    return [data.train_batch(c, cfg.backbone.max_len, cfg.padding) for c in chunks]


def step(model, opt, batch) -> None:
    loss, _ = model.calculate_loss(batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def addmm_inplace_flop(acc, a, b, *args, out_val=None, **kwargs) -> int:
    """acc += a @ b: 2 m k n, as torch counts addmm."""
    return 2 * a.shape[0] * a.shape[1] * b.shape[1]


addmm_inplace_flop._get_raw = True  # called with the tensors themselves, not their shapes


def mfu_cmd(args: argparse.Namespace) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(args.threads)
    data, sid = load()
    peak = max(matmul_gflops(*s) for s in shapes(data.n_items).values())
    out = {"threads": args.threads, "peak_matmul_gflops": peak, "models": {}}
    for name in args.models:
        model, cfg, opt = build(name, data, sid)
        model.train()
        batches = epoch_batches(data, cfg)[: args.max_batches]
        step(model, opt, batches[0])  # warm-up
        t0 = time.perf_counter()
        for b in batches:
            step(model, opt, b)
        seconds = time.perf_counter() - t0
        # The chunked CE accumulates the item-table gradient with the in-place addmm_, which
        # torch's counter does not know; without it a third of the logits' FLOPs go uncounted.
        counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.addmm_: addmm_inplace_flop})
        with counter:
            for b in batches:
                step(model, opt, b)
        flops = counter.get_total_flops()
        achieved = flops / seconds / 1e9
        out["models"][name] = {
            "epoch_seconds": seconds,
            "epoch_gflop": flops / 1e9,
            "achieved_gflops": achieved,
            "mfu": achieved / peak,
            "batches": len(batches),
            "positions": int(sum(int(b.mask.sum()) for b in batches)),
        }
        print(
            f"{name}: epoch {seconds:.1f} s, {flops / 1e9:,.0f} GFLOP counted, {achieved:.1f} GFLOP/s "
            f"= {100 * achieved / peak:.1f}% of the best matmul ({peak:.1f} GFLOP/s, {args.threads} thread(s))"
        )
    return out


def profile_cmd(args: argparse.Namespace) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(args.threads)
    data, sid = load()
    model, cfg, opt = build(args.model, data, sid)
    model.train()
    from h2rec.train.batching import bucketed_batches

    users = data.train_users()
    lengths = np.minimum(data.n_train[users] - 1, cfg.backbone.max_len)
    chunks = bucketed_batches(users, lengths, cfg.batch_size, np.random.default_rng(0))[: args.max_batches]
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for c in chunks:  # batch building included: it is part of the epoch
            with torch.profiler.record_function("data: train_batch"):
                batch = data.train_batch(c, cfg.backbone.max_len, cfg.padding)
            step(model, opt, batch)
    wall = time.perf_counter() - t0
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[: args.top]
    rows = [
        {"op": e.key, "self_seconds": e.self_cpu_time_total / 1e6, "share": e.self_cpu_time_total / total, "calls": e.count}
        for e in top
    ]
    print(f"{args.model}: one profiled epoch {wall:.1f} s wall ({len(chunks)} batches)")
    for r in rows:
        print(f"  {r['op']:45s} {r['self_seconds']:7.2f} s  {100 * r['share']:5.1f}%  {r['calls']} calls")
    return {"model": args.model, "threads": args.threads, "wall": wall, "batches": len(chunks), "top": rows}


def batch_sizes_cmd(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    data, sid = load()
    out = {"threads": args.threads, "rows": []}
    for name in args.models:
        for bs in args.sizes:
            model, cfg, opt = build(name, data, sid, batch_size=bs)
            model.train()
            batches = epoch_batches(data, cfg)  # a whole epoch: every size sees the same sequences
            step(model, opt, batches[0])
            t0 = time.perf_counter()
            for b in batches:
                step(model, opt, b)
            rate = sum(b.items.shape[0] for b in batches) / (time.perf_counter() - t0)
            out["rows"].append({"model": name, "batch_size": bs, "sequences_per_s": rate})
            print(f"{name} batch {bs:5d}: {rate:,.0f} sequences/s")
    return out


def step_flops(model, opt, batches) -> float:
    """FLOPs counted over `batches` training steps (torch's counter, as in `mfu`)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.addmm_: addmm_inplace_flop})
    with counter:
        for b in batches:
            step(model, opt, b)
    return float(counter.get_total_flops())


def cost_cmd(args: argparse.Namespace) -> dict:
    """Seconds per training step of each grid variant against SASRec at the same hidden size,
    over the same batches, stepped in turn (batch 1 of every model, then batch 2, ...), so a
    drift of the machine's speed reaches every model alike. Beside the time, the FLOPs torch
    counts in the same steps: a ratio the machine's load cannot move, and the floor of the
    time ratio at equal efficiency."""
    import torch

    from h2rec.commands.grid import read_grid
    from h2rec.config import TrainConfig, merge
    from h2rec.models.inputs import Needs
    from h2rec.models.registry import build_model

    torch.set_num_threads(args.threads)
    grid = read_grid(args.grid)
    names = ["sasrec", *[v for v in (args.variants or grid.variants) if v != "sasrec"]]
    # The peer is SASRec at the grid's `base`, the settings its variants were measured at.
    configs = {"sasrec": TrainConfig.model_validate(merge({"progress": False}, merge(grid.base, {"model": "sasrec"})))}
    for name in names[1:]:
        configs[name] = TrainConfig.model_validate(merge({"progress": False}, grid.variants[name]))
    data, inputs = load(args.dataset, Needs(sid=True, codebooks=True, text=True))
    models = {}
    for name, cfg in configs.items():
        torch.manual_seed(0)
        model = build_model(cfg, inputs).train()
        models[name] = (model, torch.optim.AdamW(model.parameters(), lr=cfg.lr))
        if args.plain_table and model.coded_items() is not None:
            # the same model, its softmax over the built (I, 2d) table of [e_H; e_S] instead of
            # through the SID codes (losses.CodedSoftmaxCE): the scoring it had before
            torch.manual_seed(0)
            twin = build_model(cfg, inputs).train()
            twin.coded_items = lambda: None
            models[f"{name} (plain table)"] = (twin, torch.optim.AdamW(twin.parameters(), lr=cfg.lr))
    # `--epochs` full epochs, each in its own order; the medians are then over that many more steps
    batches = [b for e in range(args.epochs) for b in epoch_batches(data, configs["sasrec"], seed=e)][: args.max_batches]
    seconds = {name: [] for name in models}
    for i, b in enumerate(batches):
        for name, (model, opt) in models.items():
            t0 = time.perf_counter()
            step(model, opt, b)
            if i:  # the first step of each model is its warm-up
                seconds[name].append(time.perf_counter() - t0)
    counted = batches[1 : 1 + args.flop_batches]
    flops = {name: step_flops(model, opt, counted) / len(counted) for name, (model, opt) in models.items()}
    base, base_flops = float(np.median(seconds["sasrec"])), flops["sasrec"]
    out = {
        "dataset": args.dataset,
        "threads": args.threads,
        "epochs": args.epochs,
        "steps": len(batches) - 1,
        "grid": str(args.grid),
        "models": {},
    }
    for name, s in seconds.items():
        med = float(np.median(s))
        out["models"][name] = {
            "median_step_s": med,
            "mean_step_s": float(np.mean(s)),
            "ratio_to_sasrec": med / base,
            "gflop_per_step": flops[name] / 1e9,
            "flop_ratio_to_sasrec": flops[name] / base_flops,
        }
        print(
            f"{name:24s} {1000 * med:7.1f} ms/step (median of {len(s)})  {med / base:5.2f}x SASRec   "
            f"{flops[name] / 1e9:6.2f} GFLOP/step  {flops[name] / base_flops:5.2f}x SASRec's FLOPs"
        )
    return out


def plot_cmd(args: argparse.Namespace) -> None:
    """docs/figures/throughput_batch_size.png from batch-sizes.json."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = json.loads((RESULTS / "batch-sizes.json").read_text())
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name in dict.fromkeys(r["model"] for r in res["rows"]):
        rows = [r for r in res["rows"] if r["model"] == name]
        ax.plot([r["batch_size"] for r in rows], [r["sequences_per_s"] for r in rows], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (users)")
    ax.set_ylabel("training sequences / s")
    ax.set_title(f"Beauty, full-softmax CE, {res['threads']} thread(s)")
    ax.set_ylim(bottom=0)
    ax.legend()
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)
    print(f"wrote {FIGURE}")


def dropout_cmd(args: argparse.Namespace) -> dict:
    """Forward + backward of dropout on the tensors of a default training step (batch 512, a
    Beauty bucket of 8 positions): torch's own (`bernoulli_`), float noise compared with p (the
    previous `h2rec/models/dropout.py`) and the 16-bit draws of the current one."""
    import torch
    import torch.nn.functional as F

    from h2rec.config import TrainConfig
    from h2rec.models.dropout import dropout

    torch.set_num_threads(args.threads)
    cfg = TrainConfig().backbone
    ways = {
        "torch (bernoulli_)": lambda x, p: F.dropout(x, p, training=True),
        "float noise (rand_like >= p)": lambda x, p: x * (torch.rand_like(x) >= p) * (1.0 / (1.0 - p)),
        "16-bit draws (h2rec)": dropout,
    }
    tensors = {  # the largest of each kind in a step
        "FFN inner (512 x 8 x ffn)": ((512, 8, cfg.ffn), cfg.dropout),
        "hidden states (512 x 8 x hidden)": ((512, 8, cfg.hidden), cfg.dropout),
        "attention maps (512 x heads x 8 x 8)": ((512, cfg.heads, 8, 8), cfg.attn_dropout),
    }
    out = {"threads": args.threads, "rows": []}
    for tensor, (shape, p) in tensors.items():
        x0 = torch.randn(shape)
        times = {}
        for way, fn in ways.items():
            ts = []
            for _ in range(args.repeats):
                x = x0.clone().requires_grad_(True)
                t0 = time.perf_counter()
                fn(x, p).sum().backward()
                ts.append(time.perf_counter() - t0)
            times[way] = float(np.median(ts))
        ours = times["16-bit draws (h2rec)"]
        for way, t in times.items():
            out["rows"].append({"tensor": tensor, "p": p, "way": way, "ms": 1000 * t, "x_ours": t / ours})
            print(f"{tensor:38s} p={p:.3f}  {way:30s} {1000 * t:7.3f} ms  {t / ours:5.2f}x the 16-bit draws")
    return out


def scoring_cmd(args: argparse.Namespace) -> dict:
    """One block of the full-softmax cross-entropy (logits, softmax, the gradients for the
    states and the item vectors: a forward of the training losses, which compute their
    gradients there) over Beauty's catalogue: SASRec's 64-wide item table and H2Rec's built
    128-wide [e_H; e_S] (`ChunkedSoftmaxCE`), the same H2Rec logits with the SID half scored
    through the codes (`CodedSoftmaxCE`: per-code scores gathered by `embedding_bag`, gradients
    summed back per code by `index_add_`), and that gather and sum as sparse products instead
    (a sparse (I x L*K) matrix of the items' codes and its transpose; checked against
    `CodedSoftmaxCE`). Random codes of Beauty's cardinalities."""
    import warnings

    import torch

    from h2rec.models.losses import CE_CHUNK, ChunkedSoftmaxCE, CodedSoftmaxCE, softmax_minus_onehot_

    warnings.filterwarnings("ignore", message="Sparse")
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    n_items, d, k, levels, c = 12_101, 64, 256, 3, CE_CHUNK
    h_hid, h_sid = torch.randn(c, d, generator=gen) * 0.1, torch.randn(c, d, generator=gen) * 0.1
    hid_table, code_tables = torch.randn(n_items, d, generator=gen) * 0.1, torch.randn(levels * k, d, generator=gen) * 0.1
    codes = torch.stack([torch.randint(0, k, (n_items,), generator=gen) + l * k for l in range(levels)], 1)  # (I, L)
    targets = torch.randint(0, n_items, (c,), generator=gen)
    wide_h = torch.cat([h_hid, h_sid], 1)
    wide_table = torch.cat([hid_table, code_tables[codes].mean(1)], 1)  # (I, 2d) = [e_H; e_S]
    gather = torch.sparse_coo_tensor(  # (L*K, I): 1/L where item i has code row r
        torch.stack([codes.T.reshape(-1), torch.arange(n_items).repeat(levels)]),
        torch.full((levels * n_items,), 1.0 / levels),
        (levels * k, n_items),
    ).coalesce()
    per_code, per_item = gather.to_sparse_csr(), gather.t().coalesce().to_sparse_csr()

    def sparse():
        """`CodedSoftmaxCE`'s block with the gather and the per-code sum as sparse products;
        (summed loss, gradients for the states, the HID table and the code tables)."""
        logits = torch.sparse.mm(per_item, code_tables @ h_sid.T)  # (I, chunk): items on rows
        logits.addmm_(hid_table, h_hid.T)
        loss, grad = softmax_minus_onehot_(logits, (targets, torch.arange(c)), 0)
        grad_codes = torch.sparse.mm(per_code, grad)  # (L*K, chunk)
        grad_h = torch.cat([grad.T @ hid_table, grad_codes.T @ code_tables], 1)
        return loss, grad_h, torch.zeros_like(hid_table).addmm_(grad, h_hid), grad_codes @ h_sid

    def coded(*inputs):
        return CodedSoftmaxCE.apply(*inputs, codes, targets, c, None, "mean")

    leaves = [t.clone().requires_grad_(True) for t in (wide_h, hid_table, code_tables)]
    loss = coded(*leaves)
    for name, a, b in zip(
        ["loss", "state gradient", "HID gradient", "code gradient"],
        [loss, *torch.autograd.grad(loss, leaves)],
        [x / c for x in sparse()],  # the losses are means over the chunk's positions
    ):
        if not torch.allclose(a, b, rtol=1e-4, atol=1e-6):
            raise SystemExit(f"the sparse block differs from CodedSoftmaxCE in its {name}")
    ways = {
        "64-wide table (SASRec)": lambda: ChunkedSoftmaxCE.apply(h_hid, hid_table, targets, c),
        "128-wide [e_H; e_S] (H2Rec)": lambda: ChunkedSoftmaxCE.apply(wide_h, wide_table, targets, c),
        "SID half factored, sparse products": sparse,
        "SID half factored, embedding_bag": lambda: coded(wide_h, hid_table, code_tables),
    }
    times = {}
    for way, fn in ways.items():
        fn()
        ts = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        times[way] = float(np.median(ts))
    base = times["64-wide table (SASRec)"]
    out = {"threads": args.threads, "chunk": c, "items": n_items, "levels": levels, "codes": k, "rows": []}
    for way, t in times.items():
        out["rows"].append({"way": way, "ms": 1000 * t, "x_sasrec": t / base})
        print(f"{way:36s} {1000 * t:7.2f} ms  {t / base:5.2f}x the 64-wide block")
    return out


def positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    mm = sub.add_parser("matmul", help="dense matmul GFLOP/s for the training shapes")
    mm.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    mf = sub.add_parser("mfu", help="counted FLOPs of one training epoch / its time / best matmul rate")
    mf.add_argument("--models", nargs="+", default=["sasrec", "h2rec"])
    pr = sub.add_parser("profile", help="torch profiler over one training epoch, top ops by self CPU time")
    pr.add_argument("--model", default="sasrec")
    pr.add_argument("--top", type=int, default=12)
    bs = sub.add_parser("batch-sizes", help="training sequences/s by batch size")
    bs.add_argument("--models", nargs="+", default=["sasrec", "h2rec"])
    bs.add_argument("--sizes", nargs="+", type=int, default=[64, 128, 256, 512, 1024])
    co = sub.add_parser("cost", help="seconds per training step of grid variants against SASRec, stepped in turn")
    co.add_argument("--grid", default="experiments/fidelity.yaml", help="grid file of the variants (default: %(default)s)")
    co.add_argument("--variants", nargs="+", help="variants of the grid (default: all)")
    co.add_argument("--dataset", default=DATASET, help="dataset of bench/workspace.py (default: %(default)s)")
    co.add_argument("--flop-batches", type=int, default=5, help="steps whose FLOPs are counted (default: %(default)s)")
    co.add_argument(
        "--epochs", type=positive, default=1, help="epochs of steps timed, each in its own order (default: %(default)s)"
    )
    co.add_argument(
        "--plain-table",
        action="store_true",
        help="also time each H2Rec variant with its softmax over the built [e_H; e_S] table, not through the SID codes",
    )
    dr = sub.add_parser("dropout", help="dropout forward + backward: torch's, float noise, the 16-bit draws")
    dr.add_argument("--repeats", type=int, default=200)
    sc = sub.add_parser("scoring", help="one softmax block: 64-wide, 128-wide and with the SID half factored")
    sc.add_argument("--repeats", type=positive, default=50)
    for p in (mf, pr, bs, co, dr, sc):
        p.add_argument("--threads", type=int, default=2)
    for p in (mf, pr, co):
        p.add_argument("--max-batches", type=int, default=None, help="fewer batches than one epoch (a quick look)")
    sub.add_parser("plot", help="draw docs/figures/throughput_batch_size.png from batch-sizes.json")
    args = parser.parse_args()
    if args.cmd == "plot":
        return plot_cmd(args)
    commands = {
        "matmul": matmul_cmd,
        "mfu": mfu_cmd,
        "profile": profile_cmd,
        "batch-sizes": batch_sizes_cmd,
        "cost": cost_cmd,
        "dropout": dropout_cmd,
        "scoring": scoring_cmd,
    }
    result = commands[args.cmd](args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.cmd == "cost":  # cost-<dataset>.json for bench/cost_parts.yaml, <grid>-<dataset>.json for another grid
        grid = Path(args.grid).stem
        name = f"cost-{args.dataset}" if grid == "cost_parts" else f"{grid}-{args.dataset}"
    elif args.cmd == "scoring":  # one file per thread count: training runs one thread a worker
        name = f"scoring-{args.threads}threads"
    else:
        name = f"profile-{args.model}" if args.cmd == "profile" else args.cmd
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
