"""H2Rec against SASRec and SID-SASRec, its ablations, and its cost; tables and plots into
docs/results.md.

Every run trains one (dataset, variant, seed) with the same budget and the same defaults for
every model (params `train` defaults: CE loss, SASRec backbone 2x64, lr 1e-3, batch 256),
selects the epoch with the best validation NDCG@10 (full ranking), and evaluates that model on
the test split under both protocols. Each run is a separate process (so its peak memory is its
own) and writes one JSON under bench/results/<dataset>/; runs already there are skipped, so an
interrupted benchmark resumes where it stopped.

    python bench/bench_h2rec.py run --datasets scientific --variants main --seeds 0 1 2 --epochs 40 --patience 5
    python bench/bench_h2rec.py run --datasets scientific --variants ablation --seeds 0 --epochs 40 --patience 5
    python bench/bench_h2rec.py report

Data and Semantic IDs are prepared once per dataset under data/bench/<dataset>/ from the
shipped datasets with the pipeline's own functions and defaults (k-core 5, leave-one-out,
MiniLM text embeddings from the shared cache, RQ-KMeans 3 x 256 with a dedup level), so
nothing under data/ that the pipeline owns is touched.
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
RESULTS = ROOT / "bench" / "results" / "h2rec"
CACHE = ROOT / "data" / "bench"
DOC = ROOT / "docs" / "results.md"
FIGURES = ROOT / "docs" / "figures"

# name -> (registered model, train.h2rec overrides, SID quantizer)
VARIANTS: dict[str, tuple[str, dict, str]] = {
    "sasrec": ("sasrec", {}, "rqkmeans"),
    "sid_sasrec": ("sid_sasrec", {}, "rqkmeans"),
    "h2rec": ("h2rec", {}, "rqkmeans"),
    "no_code": ("h2rec", {"lambda_item": 0.0}, "rqkmeans"),
    "no_mask": ("h2rec", {"lambda_user": 0.0}, "rqkmeans"),
    "no_gate": ("h2rec", {"gate": "mean"}, "rqkmeans"),
    "no_fusion": ("h2rec", {"fusion": "none"}, "rqkmeans"),
    "naive_sum": ("h2rec", {"fusion": "sum"}, "rqkmeans"),
    "sid_only": ("h2rec", {"branches": "sid"}, "rqkmeans"),
    "hid_only": ("h2rec", {"branches": "hid"}, "rqkmeans"),
    "separate_backbone": ("h2rec", {"shared_backbone": False}, "rqkmeans"),
    "cooccurrence": ("h2rec", {"code_cooccurrence": 0.5}, "rqkmeans"),
    "rqvae": ("h2rec", {}, "rqvae"),
}
GROUPS = {
    "main": ["sasrec", "sid_sasrec", "h2rec"],
    "ablation": ["h2rec", "no_code", "no_mask", "no_gate", "no_fusion", "naive_sum", "sid_only", "hid_only", "separate_backbone"],
    "extra": ["cooccurrence", "rqvae"],
}
LABELS = {
    "sasrec": "SASRec (HID)", "sid_sasrec": "SID-SASRec", "h2rec": "H2Rec",
    "no_code": "w/o L_code", "no_mask": "w/o L_mask", "no_gate": "w/o gate (mean)", "no_fusion": "w/o cross-attention",
    "naive_sum": "naive SID+HID sum", "sid_only": "SID branch only", "hid_only": "HID branch only",
    "separate_backbone": "separate backbones", "cooccurrence": "+ PPMI positives", "rqvae": "RQ-VAE codes",
}


# -- data ------------------------------------------------------------------------------------
def prepare_dataset(name: str, threads: int) -> Path:
    """data/bench/<name>/: prepared tables, SIDs (rqkmeans, and rqvae on demand), co-occurrence."""
    from h2rec.config import load_params
    from h2rec.data.adapters import load_source
    from h2rec.data.split import prepare
    from h2rec.io import write_parquet

    out = CACHE / name
    if (out / "items.parquet").exists():
        return out
    params = load_params(ROOT / "params.yaml")
    interactions, items = load_source(params.data.sources[name])
    prep = prepare(interactions, items, params.preprocess)
    write_parquet(prep.interactions, out / "interactions.parquet")
    write_parquet(prep.users, out / "users.parquet")
    write_parquet(prep.items, out / "items.parquet")
    return out


def item_embeddings(out: Path) -> np.ndarray:
    path = out / "embeddings.npy"
    if path.exists():
        return np.load(path)
    from h2rec.config import load_params
    from h2rec.io import read_parquet
    from h2rec.sid.embedder import EmbeddingCache, SentenceEncoder, embed_texts, model_key, resolve_model
    from h2rec.sid.text import item_texts

    cfg = load_params(ROOT / "params.yaml").embed
    items = read_parquet(out / "items.parquet")
    texts = item_texts(items, cfg.fields, cfg.separator, cfg.label_fields, cfg.max_chars)
    model_path = resolve_model(cfg.model)
    cache = EmbeddingCache(ROOT / "data" / "cache" / "embeddings" / f"{model_key(model_path)}.npz", 384)
    vectors, _ = embed_texts(texts, SentenceEncoder(model_path, cfg.batch_size, progress=False), cache)
    cache.save()
    np.save(path, vectors)
    return vectors


def tokenize_config(method: str):
    """params.yaml's `tokenize` section (the pipeline's choice), with the quantizer `method`."""
    from h2rec.config import load_params

    return load_params(ROOT / "params.yaml").tokenize.model_copy(update={"method": method})


def semantic_ids(out: Path, method: str) -> Path:
    """<out>/sid_<method>-<settings hash>.npz: codes (I+1, L+1), dedup level last; cardinalities; codebooks.

    Made once per dataset and method, from params.yaml's `tokenize` section at that time, then
    reused (so a benchmark never mixes two SID tables; each run records the settings). Delete the
    file to follow a changed params.yaml.
    """
    import hashlib

    made = sorted(out.glob(f"sid_{method}-*.npz"))
    if made:
        return made[0]
    cfg = tokenize_config(method)
    key = hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:8]
    path = out / f"sid_{method}-{key}.npz"
    if path.exists():
        return path
    from h2rec.sid.sids import dedup_level

    x = item_embeddings(out)
    if method == "rqkmeans":
        from h2rec.sid.rqkmeans import RQKMeans

        q = RQKMeans(cfg.levels, cfg.codebook_size, cfg.seed, cfg.kmeans_iters, cfg.normalize_residuals)
    else:
        from h2rec.sid.rqvae import RQVAE

        r = cfg.rqvae
        q = RQVAE(cfg.levels, cfg.codebook_size, cfg.seed, r.hidden, r.latent_dim, r.epochs, r.batch_size, r.lr,
                  r.weight_decay, r.beta, r.patience, r.min_delta)
    codes = q.fit(x).encode(x).astype(np.int64)
    dedup, _ = dedup_level(codes)
    full = np.column_stack([codes, dedup])
    full = np.concatenate([np.full((1, full.shape[1]), -1), full])
    cards = [cfg.codebook_size] * cfg.levels + [int(dedup.max()) + 1]
    unique = len(np.unique(codes, axis=0)) / len(codes)
    np.savez(path, codes=full, cardinalities=np.array(cards), unique_share=unique, settings=cfg.model_dump_json(),
             **{f"codebook_{l}": c for l, c in enumerate(q.codebooks)})
    return path


def cooccurrence_table(out: Path, data) -> tuple[np.ndarray, np.ndarray]:
    from h2rec.models.cooccurrence import cooccurrence_counts, ppmi_neighbours
    from h2rec.models.h2rec_config import CooccurrenceConfig

    cfg = CooccurrenceConfig()
    counts = cooccurrence_counts(data.offsets, data.flat, data.n_train, data.n_items, cfg.window)
    neighbours, ppmi = ppmi_neighbours(counts, cfg.min_count, cfg.top_k)
    return neighbours.astype(np.int64), ppmi


# -- one run -----------------------------------------------------------------------------------
def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def train_one(dataset: str, variant: str, seed: int, epochs: int, patience: int, threads: int) -> dict:
    import torch

    from h2rec.eval.evaluator import Evaluator
    from h2rec.eval.metrics import rank_metrics
    from h2rec.models.h2rec import build_h2rec
    from h2rec.models.h2rec_config import H2RecConfig
    from h2rec.models.registry import build_model
    from h2rec.train import checkpoint
    from h2rec.train.config import EvaluateConfig, TrainConfig
    from h2rec.train.data import SeqDataset
    from h2rec.train.sid_table import SidTable
    from h2rec.train.trainer import Trainer

    torch.set_num_threads(threads)
    model_name, overrides, method = VARIANTS[variant]
    out = prepare_dataset(dataset, threads)
    data = SeqDataset.load(out)
    z = np.load(semantic_ids(out, method))
    sid_info = {"settings": json.loads(str(z["settings"])), "unique_share": float(z["unique_share"])}
    codebooks = [z[f"codebook_{l}"] for l in range(len(z["cardinalities"]) - 1)]
    sid = SidTable(z["codes"], [int(c) for c in z["cardinalities"]], codebooks)
    cfg = TrainConfig(model=model_name, seed=seed, epochs=epochs, patience=patience, num_threads=threads, progress=False)
    base_rss = rss_mb()
    torch.manual_seed(seed)
    if model_name == "h2rec":
        hc = H2RecConfig(**overrides)
        cooc = cooccurrence_table(out, data) if hc.code_cooccurrence > 0 else None
        model = build_h2rec(cfg, data, sid, dedup=True, cooccurrence=cooc, hc=hc)
    else:
        model = build_model(cfg, data, sid)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, data, cfg, Path(tmp), identity={"bench": variant})
        t0 = time.perf_counter()
        state = trainer.fit()
        train_seconds = time.perf_counter() - t0
        model.load_state_dict(checkpoint.load(Path(tmp) / checkpoint.BEST)["model"])
    t0 = time.perf_counter()
    evaluator = Evaluator(data, EvaluateConfig())
    cases = evaluator.cases(model, "test", cfg.backbone.max_len, cfg.padding)
    metrics = evaluator.summarise(cases)
    test_seconds = time.perf_counter() - t0
    # Test targets never seen in training (their HID vector is still the initial one).
    cold = data.train_count[cases.targets] == 0
    for protocol, ranks in cases.ranks.items():
        for name, value in rank_metrics(ranks[cold], [10, 20]).items():
            metrics[f"{protocol}/cold/{name}"] = value
    metrics["cold_cases"] = int(cold.sum())
    if model_name == "h2rec" and model.cfg.cold_hid == "init" and model.use_sid and model.use_hid:
        # Same weights, unseen items' HID part predicted from their SID vector (cold_hid: sid).
        model.cfg = model.cfg.model_copy(update={"cold_hid": "sid"})
        alt = evaluator.cases(model, "test", cfg.backbone.max_len, cfg.padding)
        for key, value in evaluator.summarise(alt).items():
            metrics[f"cold_hid_sid:{key}"] = value
        for protocol, ranks in alt.ranks.items():
            for name, value in rank_metrics(ranks[cold], [10, 20]).items():
                metrics[f"cold_hid_sid:{protocol}/cold/{name}"] = value
        model.cfg = model.cfg.model_copy(update={"cold_hid": "init"})
    gate = mean_user_gate(model, data, cfg) if getattr(model, "gate", None) is not None else None
    history = state.history
    return {
        "dataset": dataset, "variant": variant, "model": model_name, "overrides": overrides, "sid": method, "sid_info": sid_info,
        "seed": seed, "budget": {"epochs": epochs, "patience": patience, "threads": threads},
        "epochs_run": state.epoch, "best_epoch": state.best_epoch, "best_valid_ndcg10": state.best_score,
        "seconds_per_epoch": float(np.median([h["epoch_seconds"] for h in history])) if history else None,
        "train_seconds": train_seconds, "test_eval_seconds": test_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "base_rss_mb": base_rss,
        "n_params": sum(p.numel() for p in model.parameters()),
        "history": history, "test": metrics, "mean_gate": gate,
        "load_avg": os.getloadavg()[0],
    }


def mean_user_gate(model, data, cfg) -> dict[str, list[float]]:
    """Average per-level gate weights of test users (coarse level first), all and by history length."""
    import torch

    model.eval()
    gates = []
    with torch.no_grad():
        for chunk in np.array_split(np.arange(data.n_users), max(1, data.n_users // 1024)):
            gates.append(model.user_gate(data.eval_batch(chunk, "test", cfg.backbone.max_len, cfg.padding)).numpy())
    g = np.concatenate(gates)
    return {"all": g.mean(0).tolist(), "short": g[~data.is_long].mean(0).tolist(), "long": g[data.is_long].mean(0).tolist()}


def result_path(dataset: str, variant: str, seed: int) -> Path:
    return RESULTS / dataset / f"{variant}-seed{seed}.json"


def run_all(args: argparse.Namespace) -> None:
    variants = [v for name in args.variants for v in GROUPS.get(name, [name])]
    for dataset in args.datasets:
        prepare_dataset(dataset, args.threads)
        for seed in args.seeds:
            for variant in dict.fromkeys(variants):
                path = result_path(dataset, variant, seed)
                if path.exists():
                    continue
                print(f"[{time.strftime('%H:%M:%S')}] {dataset} {variant} seed {seed}", flush=True)
                cmd = [sys.executable, __file__, "train", "--dataset", dataset, "--variant", variant, "--seed", str(seed),
                       "--epochs", str(args.epochs), "--patience", str(args.patience), "--threads", str(args.threads)]
                subprocess.run(cmd, check=True)


def train_cmd(args: argparse.Namespace) -> None:
    result = train_one(args.dataset, args.variant, args.seed, args.epochs, args.patience, args.threads)
    path = args.out or result_path(args.dataset, args.variant, args.seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)
    t = result["test"]
    print(f"  {args.variant}: test full NDCG@10 {metric(t, 'full/overall/ndcg@10'):.4f} (head {metric(t, 'full/head/ndcg@10'):.4f}, "
          f"tail {metric(t, 'full/tail/ndcg@10'):.4f}); {result['epochs_run']} epochs, {result['seconds_per_epoch']:.1f} s/epoch", flush=True)


def metric(values: dict[str, float], key: str) -> float:
    """`values[key]`, accepting either spelling of the cut-off (`ndcg@10` or `ndcg_10`)."""
    for k in (key, key.replace("@", "_"), key.replace("_", "@")):
        if k in values:
            return values[k]
    return float("nan")


# -- cost ---------------------------------------------------------------------------------------
COST_VARIANTS = ["sasrec", "sid_sasrec", "h2rec", "no_mask", "no_code", "no_fusion"]


def cost_one(dataset: str, variant: str, batches: int, threads: int) -> dict:
    """Seconds per training step (median over `batches` length-bucketed batches) and peak memory."""
    import torch

    from h2rec.models.h2rec import build_h2rec
    from h2rec.models.h2rec_config import H2RecConfig
    from h2rec.models.registry import build_model
    from h2rec.train.batching import bucketed_batches
    from h2rec.train.config import TrainConfig
    from h2rec.train.data import SeqDataset
    from h2rec.train.sid_table import SidTable

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model_name, overrides, method = VARIANTS[variant]
    out = CACHE / dataset
    data = SeqDataset.load(out)
    z = np.load(semantic_ids(out, method))
    sid = SidTable(z["codes"], [int(c) for c in z["cardinalities"]])
    cfg = TrainConfig(model=model_name, progress=False)
    users = data.train_users()
    lengths = np.minimum(data.n_train[users] - 1, cfg.backbone.max_len)
    chunks = bucketed_batches(users, lengths, cfg.batch_size, np.random.default_rng(0))[: batches + 1]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if model_name == "h2rec":
        model = build_h2rec(cfg, data, sid, dedup=True, hc=H2RecConfig(**overrides))
    else:
        model = build_model(cfg, data, sid)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    model.train()
    times = []
    for chunk in chunks:  # the first step warms up and is not timed
        batch = data.train_batch(chunk, cfg.backbone.max_len, cfg.padding)
        t0 = time.perf_counter()
        loss, _ = model.calculate_loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return {"variant": variant, "step_seconds": float(np.median(times[1:])), "total_seconds": float(np.sum(times[1:])),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "base_rss_mb": base,
            "load_avg": os.getloadavg()[0]}


def cost_all(args: argparse.Namespace) -> None:
    """Every variant in its own process, interleaved over rounds, so load changes hit all alike."""
    rows: list[dict] = []
    prepare_dataset(args.dataset, args.threads)
    for r in range(args.rounds):
        for variant in args.variants:
            cmd = [sys.executable, __file__, "cost-one", "--dataset", args.dataset, "--variant", variant,
                   "--batches", str(args.batches), "--threads", str(args.threads)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append({**row, "round": r})
            print(f"round {r} {variant}: {row['step_seconds']:.3f} s/step, peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)
    path = RESULTS / args.dataset / "cost.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"batches": args.batches, "rounds": args.rounds, "threads": args.threads, "rows": rows}, indent=1))


# -- report ------------------------------------------------------------------------------------
def load_results(results: Path) -> dict[tuple[str, str], list[dict]]:
    runs: dict[tuple[str, str], list[dict]] = {}
    for path in sorted(results.glob("*/*-seed*.json")):
        r = json.loads(path.read_text())
        if r["model"] != "sasrec" and "sid_info" not in r:
            continue  # made with Semantic IDs from before the bench followed params.yaml's tokenize section
        runs.setdefault((r["dataset"], r["variant"]), []).append(r)
    return runs


def stat(runs: list[dict], key: str) -> tuple[float, float]:
    values = np.array([metric(r["test"], key) for r in runs])
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def cell(runs: list[dict], key: str) -> str:
    mean, std = stat(runs, key)
    return f"{mean:.4f}" if np.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def rel(a: float, b: float) -> str:
    return f"{100 * (a / b - 1):+.1f}%" if b > 0 else "n/a"


def sid_text(runs, dataset: str) -> str:
    info = next((r["sid_info"] for (d, _), rs in runs.items() if d == dataset for r in rs if "sid_info" in r and r["sid"] == "rqkmeans"), None)
    if info is None:
        return ""
    c = info["settings"]
    return (f"Semantic IDs: {c['method']} {c['levels']} x {c['codebook_size']}, normalize_residuals={c['normalize_residuals']}, "
            f"{100 * info['unique_share']:.1f}% of items with a unique tuple, plus a dedup level (read by SID-SASRec, not by H2Rec).")


def budget_text(runs: list[dict]) -> str:
    b = runs[0]["budget"]
    threads = " or ".join(str(t) for t in sorted({r["budget"]["threads"] for r in runs}))
    return f"{len(runs)} seed(s), max {b['epochs']} epochs, patience {b['patience']}, {threads} thread(s)"


def main_table(runs, dataset: str, protocol: str) -> list[str]:
    groups = ["overall", "head", "tail"]
    head = "| model | " + " | ".join(f"NDCG@10 {g}" for g in groups) + " | " + " | ".join(f"HR@10 {g}" for g in groups) + " | runs |"
    lines = [head, "|" + "---|" * (2 * len(groups) + 2)]
    for v in GROUPS["main"]:
        rs = runs.get((dataset, v))
        if not rs:
            continue
        cells = [cell(rs, f"{protocol}/{g}/ndcg@10") for g in groups] + [cell(rs, f"{protocol}/{g}/hr@10") for g in groups]
        lines.append(f"| {LABELS[v]} | " + " | ".join(cells) + f" | {len(rs)} |")
    base, h2 = runs.get((dataset, "sasrec")), runs.get((dataset, "h2rec"))
    if base and h2:
        cells = [rel(stat(h2, f"{protocol}/{g}/ndcg@10")[0], stat(base, f"{protocol}/{g}/ndcg@10")[0]) for g in groups]
        cells += [rel(stat(h2, f"{protocol}/{g}/hr@10")[0], stat(base, f"{protocol}/{g}/hr@10")[0]) for g in groups]
        lines.append("| H2Rec vs SASRec | " + " | ".join(cells) + " | |")
    return lines


def claims(runs, dataset: str, protocol: str) -> list[str]:
    base, sid, h2 = (runs.get((dataset, v)) for v in ("sasrec", "sid_sasrec", "h2rec"))
    if not (base and h2):
        return []
    m = lambda rs, g: stat(rs, f"{protocol}/{g}/ndcg@10")[0]  # noqa: E731
    checks = [
        ("overall NDCG@10 at least +3% over SASRec", m(h2, "overall") >= 1.03 * m(base, "overall"), rel(m(h2, "overall"), m(base, "overall"))),
        ("tail NDCG@10 at least +15% over SASRec", m(h2, "tail") >= 1.15 * m(base, "tail"), rel(m(h2, "tail"), m(base, "tail"))),
        ("head NDCG@10 not below SASRec", m(h2, "head") >= m(base, "head"), rel(m(h2, "head"), m(base, "head"))),
    ]
    if sid:
        checks.append(("head NDCG@10 above SID-SASRec", m(h2, "head") > m(sid, "head"), rel(m(h2, "head"), m(sid, "head"))))
    return [f"- {'holds' if ok else 'does not hold'}: {text} (measured {value})" for text, ok, value in checks]


def extras_text(runs, dataset: str) -> list[str]:
    """Cold test targets (never seen in training) and the gate H2Rec learned."""
    out = []
    cold = [(v, rs) for v in GROUPS["main"] if (rs := [r for r in runs.get((dataset, v), []) if "cold_cases" in r["test"]])]
    if cold:
        n = int(cold[0][1][0]["test"]["cold_cases"])
        parts = [f"{LABELS[v]} {stat(rs, 'full/cold/ndcg@10')[0]:.4f} / {stat(rs, 'full/cold/hr@20')[0]:.4f}" for v, rs in cold]
        out += [f"Test targets never seen in training ({n} cases), full ranking NDCG@10 / HR@20: " + "; ".join(parts) + ".", ""]
    alt = [r for r in runs.get((dataset, "h2rec"), []) if "cold_hid_sid:full/cold/ndcg_10" in r["test"] or "cold_hid_sid:full/cold/ndcg@10" in r["test"]]
    if alt:
        m = lambda k: float(np.mean([metric(r["test"], k) for r in alt]))  # noqa: E731
        out += [f"H2Rec with `cold_hid: sid` (same weights; the unseen items' HID part predicted from their SID vector, "
                f"{len(alt)} run(s)): cold NDCG@10 / HR@20 {m('cold_hid_sid:full/cold/ndcg@10'):.4f} / {m('cold_hid_sid:full/cold/hr@20'):.4f} "
                f"against {m('full/cold/ndcg@10'):.4f} / {m('full/cold/hr@20'):.4f} with the initial vector; overall NDCG@10 "
                f"{m('cold_hid_sid:full/overall/ndcg@10'):.4f} against {m('full/overall/ndcg@10'):.4f}.", ""]
    h2 = [r for r in runs.get((dataset, "h2rec"), []) if r.get("mean_gate")]
    if h2:
        g = np.mean([r["mean_gate"]["all"] for r in h2], 0)
        short = np.mean([r["mean_gate"]["short"] for r in h2], 0)
        long = np.mean([r["mean_gate"]["long"] for r in h2], 0)
        fmt = lambda a: " / ".join(f"{x:.3f}" for x in a)  # noqa: E731
        out += [f"H2Rec's learned gate, mean over test users, coarse / ... / fine: {fmt(g)} (short users {fmt(short)}, "
                f"long users {fmt(long)}); the prior alone gives {fmt(np.exp([1.0, 0.6, 0.2]) / np.exp([1.0, 0.6, 0.2]).sum())}.", ""]
    return out


def ablation_table(runs, dataset: str) -> list[str]:
    ref = runs.get((dataset, "h2rec"))
    rows = [v for v in GROUPS["ablation"] + GROUPS["extra"] if runs.get((dataset, v))]
    if not ref or len(rows) < 2:
        return []
    lines = ["| variant | NDCG@10 overall | head | tail | Δ overall vs H2Rec | Δ head | Δ tail | runs |", "|---|---|---|---|---|---|---|---|"]
    keys = [f"full/{g}/ndcg@10" for g in ("overall", "head", "tail")]
    refs = [stat(ref, k)[0] for k in keys]
    for v in rows:
        rs = runs[(dataset, v)]
        deltas = ["" if v == "h2rec" else rel(stat(rs, k)[0], r) for k, r in zip(keys, refs)]
        cells = [cell(rs, k) for k in keys]
        lines.append(f"| {LABELS[v]} | " + " | ".join(cells) + " | " + " | ".join(deltas) + f" | {len(rs)} |")
    return lines


def cost_table(runs, dataset: str) -> list[str]:
    base = runs.get((dataset, "sasrec"))
    if not base:
        return []
    med = lambda rs, k: float(np.median([r[k] for r in rs]))  # noqa: E731
    lines = ["| model | params | s/epoch (median) | x SASRec | peak RSS MB | x SASRec | epochs run (best) | load avg |",
             "|---|---|---|---|---|---|---|---|"]
    threads = base[0]["budget"]["threads"]
    for v in GROUPS["main"] + [x for x in GROUPS["ablation"] + GROUPS["extra"] if x not in GROUPS["main"]]:
        # seconds are only comparable at the same thread count as the SASRec runs
        rs = [r for r in runs.get((dataset, v), []) if r["budget"]["threads"] == threads]
        if not rs:
            continue
        sec, rss = med(rs, "seconds_per_epoch"), med(rs, "peak_rss_mb")
        epochs = ", ".join(f"{r['epochs_run']} ({r['best_epoch']})" for r in rs)
        lines.append(f"| {LABELS[v]} | {rs[0]['n_params']:,} | {sec:.1f} | {sec / med(base, 'seconds_per_epoch'):.2f} | "
                     f"{rss:.0f} | {rss / med(base, 'peak_rss_mb'):.2f} | {epochs} | {med(rs, 'load_avg'):.1f} |")
    return lines


def step_cost_table(results: Path, dataset: str) -> list[str]:
    path = results / dataset / "cost.json"
    if not path.exists():
        return []
    c = json.loads(path.read_text())
    by: dict[str, list[dict]] = {}
    for row in c["rows"]:
        by.setdefault(row["variant"], []).append(row)
    if "sasrec" not in by:
        return []
    med = lambda v, f: float(np.median([f(r) for r in by[v]]))  # noqa: E731
    step = lambda r: r["step_seconds"]  # noqa: E731
    extra = lambda r: r["peak_rss_mb"] - r["base_rss_mb"]  # noqa: E731
    lines = [f"Training step on {c['batches']} length-bucketed batches of 256 users, {c['threads']} thread(s), each variant "
             f"in its own process, {c['rounds']} interleaved rounds (medians). Memory = peak RSS of the process minus "
             "its RSS once the data was loaded (model, optimizer state, activations).", "",
             "| variant | s/step | x SASRec | training memory MB | x SASRec | peak RSS MB |", "|---|---|---|---|---|---|"]
    for v in by:
        lines.append(f"| {LABELS[v]} | {med(v, step):.3f} | {med(v, step) / med('sasrec', step):.2f} | {med(v, extra):.0f} | "
                     f"{med(v, extra) / max(med('sasrec', extra), 1e-9):.2f} | {med(v, lambda r: r['peak_rss_mb']):.0f} |")
    return lines


def plot(runs, dataset: str, figures: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures.mkdir(parents=True, exist_ok=True)
    variants = [v for v in GROUPS["main"] if runs.get((dataset, v))]
    if not variants:
        return []
    out = []
    groups = ["overall", "head", "tail"] + [f"bucket{b}" for b in range(5)]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / len(variants)
    for i, v in enumerate(variants):
        stats = [stat(runs[(dataset, v)], f"full/{g}/ndcg@10") for g in groups]
        ax.bar(np.arange(len(groups)) + i * width, [s[0] for s in stats], width,
               yerr=[0 if np.isnan(s[1]) else s[1] for s in stats], label=LABELS[v], capsize=2)
    ax.set_xticks(np.arange(len(groups)) + width * (len(variants) - 1) / 2, groups)
    ax.set_ylabel("test NDCG@10 (full ranking)")
    ax.set_title(f"{dataset}: by target popularity (bucket0 = least popular)")
    ax.legend()
    fig.tight_layout()
    name = f"{dataset}_groups.png"
    fig.savefig(figures / name, dpi=110)
    plt.close(fig)
    out.append(f"![{dataset} groups](figures/{name})")
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for v in variants:
        r = runs[(dataset, v)][0]
        ax.plot([h["epoch"] for h in r["history"]], [metric(h, "valid/ndcg@10") for h in r["history"]], label=LABELS[v])
    ax.set_xlabel("epoch")
    ax.set_ylabel("valid NDCG@10 (full)")
    ax.set_title(f"{dataset}: validation curves (seed {runs[(dataset, variants[0])][0]['seed']})")
    ax.legend()
    fig.tight_layout()
    name = f"{dataset}_curves.png"
    fig.savefig(figures / name, dpi=110)
    plt.close(fig)
    out.append(f"![{dataset} curves](figures/{name})")
    return out


def write_report(results: Path, doc: Path, figures: Path) -> None:
    runs = load_results(results)
    datasets = sorted({d for d, _ in runs} | {p.parent.name for p in results.glob("*/cost.json")}, key=lambda d: (d != "beauty", d))
    lines = [
        "## Measured tables",
        "",
        "Generated by `python bench/bench_h2rec.py report` from the run files in `bench/results/`;",
        "the commands that produced them are listed above. Test split, leave-one-out; model",
        "selection on validation NDCG@10 (full ranking). Head = the 20% most popular items by",
        "training interactions, tail = the rest; a test case belongs to the group of its target.",
        "Mean ± standard deviation over seeds where more than one seed ran.",
        "",
        "All timings come from a machine with 2 virtual CPUs shared with other work, one torch",
        "thread per run, runs one after another: absolute seconds vary by up to 2x with the load",
        "(the load average during each run is listed); ratios within one table are more reliable.",
        "Runs made with a thread count other than that of a dataset's SASRec runs (see its budget",
        "line) count in the accuracy tables but not in the cost tables.",
        "",
    ]
    for dataset in datasets:
        some = next((rs for (d, _), rs in runs.items() if d == dataset), None)
        lines += [f"### {dataset}", ""] + ([f"Budget: {budget_text(some)} (per model). {sid_text(runs, dataset)}", ""] if some else [])
        for protocol, title in (("full", "full ranking over the catalogue, history excluded"),
                                ("sampled100", "sampled: target vs 100 random unseen items")):
            table = main_table(runs, dataset, protocol)
            if len(table) > 2:
                lines += [f"#### {dataset}: test, {title}", "", *table, ""]
                checks = claims(runs, dataset, protocol)
                if checks:
                    lines += ["Targets (NDCG@10, means):", "", *checks, ""]
        lines += extras_text(runs, dataset)
        abl = ablation_table(runs, dataset)
        if abl:
            lines += [f"#### {dataset}: ablations (test, full ranking, NDCG@10; mean ± std over the runs counted)", "", *abl, ""]
        cost = cost_table(runs, dataset)
        if cost:
            lines += [f"#### {dataset}: cost of the benchmark runs", "", *cost, ""]
        step = step_cost_table(results, dataset)
        if step:
            lines += [f"#### {dataset}: cost, measured side by side", "", *step, ""]
        lines += [*plot(runs, dataset, figures), ""]
    doc.parent.mkdir(parents=True, exist_ok=True)
    marker = "<!-- everything below is generated by `python bench/bench_h2rec.py report` -->"
    text = doc.read_text() if doc.exists() else ""
    head = text.split(marker)[0] if marker in text else "# Results: H2Rec against SASRec and SID-SASRec\n\n"
    doc.write_text(head + marker + "\n\n" + "\n".join(lines) + "\n")
    print(f"wrote {doc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="train every missing (dataset, variant, seed), one process each")
    run.add_argument("--datasets", nargs="+", default=["scientific"])
    run.add_argument("--variants", nargs="+", default=["main"], help=f"variant names or groups {list(GROUPS)}")
    run.add_argument("--seeds", nargs="+", type=int, default=[0])
    for p in (run, train := sub.add_parser("train", help="one run (used by `run`)")):
        p.add_argument("--epochs", type=int, default=40)
        p.add_argument("--patience", type=int, default=5)
        p.add_argument("--threads", type=int, default=1)
    train.add_argument("--dataset", required=True)
    train.add_argument("--variant", required=True, choices=list(VARIANTS))
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", type=Path, help="result file (default: bench/results/h2rec/<dataset>/<variant>-seed<seed>.json)")
    cost = sub.add_parser("cost", help="training step time and peak memory per variant, interleaved rounds")
    one = sub.add_parser("cost-one", help="one cost measurement (used by `cost`)")
    for p in (cost, one):
        p.add_argument("--dataset", default="beauty")
        p.add_argument("--batches", type=int, default=20)
        p.add_argument("--threads", type=int, default=1)
    cost.add_argument("--variants", nargs="+", default=COST_VARIANTS)
    cost.add_argument("--rounds", type=int, default=3)
    one.add_argument("--variant", required=True, choices=list(VARIANTS))
    sub.add_parser("report", help="write docs/results.md and docs/figures/ from bench/results/")
    args = parser.parse_args()
    if args.cmd == "run":
        run_all(args)
    elif args.cmd == "train":
        train_cmd(args)
    elif args.cmd == "cost":
        cost_all(args)
    elif args.cmd == "cost-one":
        print(json.dumps(cost_one(args.dataset, args.variant, args.batches, args.threads)))
    else:
        write_report(RESULTS, DOC, FIGURES)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
