"""Figures of the training and evaluation harness on Amazon Beauty (docs/harness.md).

    python bench/bench_harness.py speed                       # epoch time per loss, evaluation time, memory
    python bench/bench_harness.py accuracy --models sasrec --seeds 0 1 2
    python bench/bench_harness.py accuracy --models sid_sasrec pop --seeds 0
    python bench/bench_harness.py report                      # table of every accuracy run so far
    python bench/bench_harness.py scale --items 1000000       # full ranking over a 10^6-item catalogue

Data comes from the shipped files through the pipeline's own functions
(`load_source(params.data.sources["beauty"])` + `prepare(..., params.preprocess)`), cached under
data/bench/harness/beauty/ so nothing the pipeline owns is touched. Semantic IDs for
`sid_sasrec` are made the same way as the tokenize stage's defaults (MiniLM title embeddings,
RQ-KMeans per params `tokenize`), cached beside them. Each accuracy run writes one JSON under
bench/results/harness/; runs already there are skipped, so an interrupted benchmark resumes.
All timings are wall-clock on whatever machine runs this; on a shared machine they vary.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "data" / "bench" / "harness"
RESULTS = ROOT / "bench" / "results" / "harness"
SHOW = ["full/overall", "full/head", "full/tail", "sampled100/overall", "sampled100/head", "sampled100/tail"]


# -- data ----------------------------------------------------------------------------------------
def dataset(name: str):
    from h2rec.config import load_params
    from h2rec.data.adapters import load_source
    from h2rec.data.split import prepare
    from h2rec.io import write_parquet
    from h2rec.train.data import SeqDataset

    out = CACHE / name
    if not (out / "users.parquet").exists():
        params = load_params(ROOT / "params.yaml")
        inter, items = load_source(params.data.sources[name])
        prep = prepare(inter, items, params.preprocess)
        write_parquet(prep.interactions, out / "interactions.parquet")
        write_parquet(prep.items, out / "items.parquet")
        write_parquet(prep.users, out / "users.parquet")
    return SeqDataset.load(out)


def sid_table(name: str, n_items: int):
    """Semantic IDs with the tokenize stage's defaults (codes + cardinalities + codebooks)."""
    from h2rec.train.sid_table import SidTable

    path = CACHE / name / "sids.npz"
    if not path.exists():
        codes, cards, books = _make_sids(name)
        np.savez(path, codes=codes, cardinalities=np.asarray(cards), **{f"codebook_{i}": b for i, b in enumerate(books)})
    z = np.load(path)
    books = [z[f"codebook_{i}"] for i in range(len([k for k in z.files if k.startswith("codebook_")]))]
    return SidTable(z["codes"], [int(c) for c in z["cardinalities"]], books)


def _make_sids(name: str):
    from h2rec.config import load_params
    from h2rec.io import read_parquet
    from h2rec.sid.embedder import EmbeddingCache, SentenceEncoder, embed_texts, model_key, resolve_model
    from h2rec.sid.rqkmeans import RQKMeans
    from h2rec.sid.sids import dedup_level
    from h2rec.sid.text import item_texts

    params = load_params(ROOT / "params.yaml")
    e, t = params.embed, params.tokenize
    items = read_parquet(CACHE / name / "items.parquet")
    texts = item_texts(items, e.fields, e.separator, e.label_fields, e.max_chars)
    model_path = resolve_model(e.model)
    cache = EmbeddingCache(ROOT / "data" / "cache" / "embeddings" / f"{model_key(model_path)}.npz", 384)
    vectors, _ = embed_texts(texts, SentenceEncoder(model_path, e.batch_size, progress=False), cache)
    cache.save()
    q = RQKMeans(t.levels, t.codebook_size, t.seed, t.kmeans_iters, t.normalize_residuals)
    codes = q.fit(vectors).encode(vectors).astype(np.int64)
    cards = [t.codebook_size] * t.levels
    if t.dedup:
        dedup, _ = dedup_level(codes)
        codes, cards = np.column_stack([codes, dedup]), cards + [int(dedup.max()) + 1]
    codes = np.concatenate([np.full((1, codes.shape[1]), -1), codes])
    return codes, cards, q.codebooks


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- accuracy ------------------------------------------------------------------------------------
def accuracy(args) -> None:
    for model in args.models:
        for seed in args.seeds:
            tag = f"-{args.tag}" if args.tag else ""
            name = f"{args.dataset}-{model}{tag}-{args.loss}-s{seed}.json"
            path = RESULTS / name
            if path.exists():
                print(f"skip {name} (done)")
                continue
            result = train_and_test(args.dataset, model, args.loss, seed, args.epochs, args.patience, args.threads, args.overrides)
            result["tag"] = args.tag
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=2))
            print(row(result), flush=True)


def train_and_test(name: str, model_name: str, loss: str, seed: int, epochs: int, patience: int, threads: int, overrides: str | None) -> dict:
    import torch

    from h2rec.eval.evaluator import Evaluator
    from h2rec.models.registry import build_model, entry
    from h2rec.train import checkpoint
    from h2rec.train.config import EvaluateConfig, TrainConfig
    from h2rec.train.trainer import Trainer, seed_everything

    torch.set_num_threads(threads)
    data = dataset(name)
    sid = sid_table(name, data.n_items) if entry(model_name).needs_sid else None
    extra = json.loads(overrides) if overrides else {}
    cfg = TrainConfig.model_validate({"model": model_name, "loss": loss, "seed": seed, "epochs": epochs,
                                      "patience": patience, "num_threads": threads, "progress": False, **extra})
    seed_everything(seed)
    model = build_model(cfg, data, sid)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        state = Trainer(model, data, cfg, Path(tmp), identity={"bench": name}).fit()
        train_seconds = time.perf_counter() - t0
        model.load_state_dict(checkpoint.load(Path(tmp) / checkpoint.BEST)["model"])
    t0 = time.perf_counter()
    metrics = Evaluator(data, EvaluateConfig()).evaluate(model, "test", cfg.backbone.max_len, cfg.padding)
    return {
        "dataset": name, "model": model_name, "loss": loss, "seed": seed, "config": cfg.model_dump(mode="json"),
        "epochs_run": state.epoch, "best_epoch": state.best_epoch, "best_valid_ndcg_10": state.best_score,
        "train_seconds": train_seconds, "test_seconds": time.perf_counter() - t0,
        "median_epoch_seconds": float(np.median([h["epoch_seconds"] for h in state.history])) if state.history else None,
        "peak_rss_mb": peak_rss_mb(), "test": metrics,
    }


def row(r: dict) -> str:
    cells = "  ".join(f"{g} {r['test'][g + '/hr_10']:.4f}/{r['test'][g + '/ndcg_10']:.4f}" for g in SHOW)
    name = r["model"] + (f"[{r['tag']}]" if r.get("tag") else "")
    return f"{name:<20}{r['loss']:<16}s{r['seed']}  ep {r['best_epoch']:>3}/{r['epochs_run']:<3}  {cells}"


def report(args) -> None:
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(f"{args.dataset}-*.json"))]
    if not runs:
        print("no runs yet")
        return
    print(f"{args.dataset}, test split, HR@10/NDCG@10 (Recall@10 = HR@10 with one target)")
    for r in runs:
        print(row(r))
    print("\nmean +- std over seeds")
    keys = sorted({(r["model"], r.get("tag") or "", r["loss"]) for r in runs})
    for model, tag, loss in keys:
        rs = [r for r in runs if (r["model"], r.get("tag") or "", r["loss"]) == (model, tag, loss)]
        cells = []
        for g in SHOW:
            hr = np.array([r["test"][g + "/hr_10"] for r in rs])
            nd = np.array([r["test"][g + "/ndcg_10"] for r in rs])
            cells.append(f"{g} {hr.mean():.4f}+-{hr.std():.4f} / {nd.mean():.4f}+-{nd.std():.4f}")
        label = model + (f"[{tag}]" if tag else "")
        print(f"{label} {loss} (n={len(rs)}): " + "; ".join(cells))


# -- speed ---------------------------------------------------------------------------------------
def speed(args) -> None:
    import torch

    from h2rec.eval.evaluator import Evaluator
    from h2rec.models.registry import build_model
    from h2rec.train.config import EvaluateConfig, TrainConfig
    from h2rec.train.trainer import Trainer, seed_everything

    torch.set_num_threads(args.threads)
    data = dataset(args.dataset)
    users = data.train_users()
    print(f"{args.dataset}: {data.n_users} users, {data.n_items} items, {data.n_train_positions(50)} training positions, "
          f"{args.threads} threads")
    for loss in args.losses:
        cfg = TrainConfig(loss=loss, epochs=1, progress=False, num_threads=args.threads)
        seed_everything(0)
        model = build_model(cfg, data)
        trainer = Trainer(model, data, cfg, Path(tempfile.mkdtemp()), identity={})
        seconds, cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            trainer._train_epoch(1)
            seconds.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        best = min(seconds)
        print(f"train {loss:<16} epoch {best:6.1f} s wall, {min(cpu):6.1f} s CPU (runs: {', '.join(f'{s:.1f}' for s in seconds)})  "
              f"{len(users) / best:7.0f} sequences/s  {data.n_train_positions(50) / best:8.0f} positions/s  peak RSS {peak_rss_mb():.0f} MB")
    if args.naive:
        print(f"train ce, padded to 50 {naive_epoch(data):6.1f} s (every batch padded to max_len, logits on all positions)")
    cfg = TrainConfig(progress=False)
    seed_everything(0)
    model = build_model(cfg, data)
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
        print(f"evaluate {protocol:<8} all {data.n_users} users: {min(times):.2f} s wall, {min(cpu):.2f} s CPU "
              f"(runs: {', '.join(f'{s:.2f}' for s in times)})")
    print(f"sampled negatives drawn once: {neg:.2f} s; peak RSS {peak_rss_mb():.0f} MB")


def naive_epoch(data) -> float:
    """One CE epoch the plain way: batches padded to max_len, logits for every position."""
    import torch
    import torch.nn.functional as F

    from h2rec.models.registry import build_model
    from h2rec.train.config import TrainConfig
    from h2rec.train.data import Batch

    cfg = TrainConfig(progress=False)
    torch.manual_seed(0)
    model = build_model(cfg, data)
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

    from h2rec.eval.evaluator import Evaluator
    from h2rec.models.registry import build_model
    from h2rec.train.config import EvaluateConfig, TrainConfig
    from h2rec.train.data import SeqDataset

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 30, args.users)
    user = np.repeat(np.arange(args.users), lengths)
    pos = np.concatenate([np.arange(n) for n in lengths])
    back = np.repeat(lengths, lengths) - pos
    inter = pd.DataFrame({"user": user, "item": rng.integers(1, args.items + 1, len(user)), "pos": pos,
                          "split": np.select([back == 1, back == 2], ["test", "valid"], "train")})
    count = np.bincount(inter["item"][inter["split"] == "train"], minlength=args.items + 1)[1:]
    items = pd.DataFrame({"item": np.arange(1, args.items + 1), "train_count": count,
                          "popularity": np.where(count > np.quantile(count, 0.8), "head", "tail"),
                          "bucket": np.minimum(np.argsort(np.argsort(count)) * 5 // args.items, 4)})
    users = pd.DataFrame({"user": np.arange(args.users), "length_group": np.where(lengths - 2 <= 5, "short", "long")})
    data = SeqDataset.from_frames(inter, items, users)
    model = build_model(TrainConfig(), data)
    base = peak_rss_mb()
    cfg = EvaluateConfig()
    t0 = time.perf_counter()
    m = Evaluator(data, cfg).evaluate(model, "test", 50, "right", ("full",))
    print(f"full ranking of {args.users} users over {args.items} items (user_batch {cfg.user_batch}, item_chunk "
          f"{cfg.item_chunk}): {time.perf_counter() - t0:.1f} s; peak RSS {peak_rss_mb():.0f} MB "
          f"({base:.0f} MB before evaluating); full/overall/hr_10 {m['full/overall/hr_10']:.4f} (random model)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--models", nargs="+", default=["sasrec"])
    a.add_argument("--loss", default="ce")
    a.add_argument("--seeds", nargs="+", type=int, default=[0])
    a.add_argument("--epochs", type=int, default=200)
    a.add_argument("--patience", type=int, default=20)
    a.add_argument("--overrides", help='JSON merged into the train config, e.g. \'{"lr": 0.002}\'')
    a.add_argument("--tag", help="names a variant made with --overrides (in file names and the report)")
    s = sub.add_parser("speed")
    s.add_argument("--losses", nargs="+", default=["ce", "bce", "sampled_softmax"])
    s.add_argument("--repeats", type=int, default=2)
    s.add_argument("--naive", action="store_true", help="also time a CE epoch padded to max_len")
    r = sub.add_parser("report")
    c = sub.add_parser("scale")
    c.add_argument("--items", type=int, default=1_000_000)
    c.add_argument("--users", type=int, default=5000)
    for q in (a, s, r, c):
        q.add_argument("--dataset", default="beauty")
        q.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    {"accuracy": accuracy, "speed": speed, "report": report, "scale": scale}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
