"""Text-embedding speed of each `embed.backend`, what each does to the Semantic IDs, and the cache.

    python bench/bench_embed.py backends [--dataset scientific] [--threads 2]   (docs/sid.md)
    python bench/bench_embed.py batches [--backends torch onnx-int8] [--texts 256] [--rounds 3]
    python bench/bench_embed.py cache [--threads 2]

backends: for each engine of h2rec/sid/backends.py, the embed stage's own encoder embeds the
whole catalogue of the dataset (no cache: every text is encoded; the one-time ONNX export is
done before timing and printed apart). Printed per backend: texts/s and its ratio to torch in
the same run, the cosine to torch's vectors (mean, min), and the share of items whose SID
tuple (the quantized levels, params.yaml's `tokenize`) differs from torch's, two ways: encoded
by the quantizer fitted on torch's vectors (what the backend alone changes), and by one
refitted on the backend's own vectors (what the pipeline would do). k-means is chaotic: one
flipped early choice relabels whole clusters, so the floor of the second figure is printed
too (the quantizer refitted on torch's very vectors). A batch-size scan (first 512 texts)
follows for each engine, since the best batch differs between engines.
Results go to bench/results/embed_backends.json.

batches: the same engines on a random sample of texts at batch 8, 16, 32 and 64, each cell timed
once per round in a fresh random order (a drifting machine speed hits every cell alike), the
median per cell and its ratio to the first engine at batch 64.

cache: Beauty's 12,101 items: 12,001 into an empty cache (texts/s), the same again from the
cache (nothing encoded), then all 12,101 (exactly the 100 new ones encoded).

Wall-clock figures on whatever machine runs this; on a shared machine they vary, the ratios
within one run much less.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import workspace  # noqa: E402  (bench/, beside this script)

from h2rec.config import load_params  # noqa: E402
from h2rec.io import read_parquet  # noqa: E402
from h2rec.sid.backends import BACKENDS  # noqa: E402
from h2rec.stages.embed import embed_items, make_encoder, texts_of  # noqa: E402

HELD_BACK = 100
OUT = ROOT / "bench" / "results" / "embed_backends.json"
SCAN_TEXTS, SCAN_BATCHES = 512, (8, 16, 32, 64)


def fit_codes(params, vectors):
    """(fitted quantizer, (n, levels) codes) with params.yaml's `tokenize` section, as the stage does."""
    from h2rec.stages.tokenize import make_quantizer, set_threads

    set_threads(params.tokenize.threads)
    quantizer = make_quantizer(params.tokenize)
    quantizer.fit(vectors)
    return quantizer, quantizer.encode(vectors)


def changed(a, b) -> float:
    """Share of items whose SID tuple (all quantized levels) differs."""
    return float((a != b).any(1).mean())


def backends(args: argparse.Namespace) -> None:
    params = load_params(ROOT / "params.yaml")
    base = params.embed.model_copy(update={"threads": args.threads})
    layout = workspace.prepare(args.dataset, upto="split")  # the texts; every backend embeds them here
    items = read_parquet(layout.prepared / "items.parquet")
    texts = texts_of(items, base)
    print(
        f"{args.dataset}: {len(items)} items, {len(set(texts))} distinct texts, threads {args.threads}, batch {base.batch_size}"
    )
    results, ref = {}, None
    for backend in args.backends:
        cfg = base.model_copy(update={"backend": backend})
        start = time.perf_counter()
        encoder = make_encoder(cfg, progress=False)  # exports the graph on first use
        load = time.perf_counter() - start
        start = time.perf_counter()
        vectors, n_encoded, _ = embed_items(items, cfg, encoder, cache_dir=None)  # no cache: every text encoded
        seconds = time.perf_counter() - start
        rate = n_encoded / seconds
        scan = {}
        for batch in SCAN_BATCHES:
            encoder.batch_size = batch
            start = time.perf_counter()
            encoder.encode(texts[:SCAN_TEXTS])
            scan[batch] = round(SCAN_TEXTS / (time.perf_counter() - start), 1)
        if ref is None:  # torch: the reference vectors, quantizer and codes
            quantizer, codes = fit_codes(params, vectors)
            ref = {"vectors": vectors, "quantizer": quantizer, "codes": codes, "rate": rate}
            # The tokenizer's own run-to-run difference on identical vectors: the floor below.
            floor = changed(fit_codes(params, vectors)[1], codes)
            print(f"tokenizer refit on the same torch vectors: SID tuple changed for {floor:.2%} of items")
        cosine = (vectors * ref["vectors"]).sum(1)
        same_quantizer = changed(ref["quantizer"].encode(vectors), ref["codes"])
        refit = changed(fit_codes(params, vectors)[1], ref["codes"])
        results[backend] = {
            "load_s": round(load, 1),
            "texts": n_encoded,
            "seconds": round(seconds, 1),
            "texts_per_s": round(rate, 1),
            "vs_torch": round(rate / ref["rate"], 2),
            "cosine_mean": float(cosine.mean()),
            "cosine_min": float(cosine.min()),
            "sid_changed_same_quantizer": same_quantizer,
            "sid_changed_refit": refit,
            "batch_scan_texts_per_s": scan,
            "model_key": encoder.key,
        }
        print(
            f"{backend:>9}: {n_encoded} texts in {seconds:6.1f} s = {rate:5.1f} texts/s ({rate / ref['rate']:.2f}x torch); "
            f"load {load:.1f} s; cosine to torch mean {cosine.mean():.6f} min {cosine.min():.6f}; SID tuple changed "
            f"for {same_quantizer:.2%} of items with torch's quantizer, {refit:.2%} with its own; batch scan {scan}",
            flush=True,
        )
    record = {
        "dataset": args.dataset,
        "threads": args.threads,
        "batch_size": base.batch_size,
        "cpus": os.cpu_count(),
        "load_avg_after": os.getloadavg()[0],
        "tokenizer_refit_floor": floor,
        "backends": results,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


def batches(args: argparse.Namespace) -> None:
    """Batch size x engine, interleaved: every round times each (engine, batch) once, in a new
    random order, so a drift of the machine's speed during the run hits all of them alike."""
    import numpy as np

    params = load_params(ROOT / "params.yaml")
    base = params.embed.model_copy(update={"threads": args.threads})
    items = read_parquet(workspace.prepare(args.dataset, upto="split").prepared / "items.parquet")
    texts = texts_of(items, base)
    rng = np.random.default_rng(0)
    sample = [texts[i] for i in rng.choice(len(texts), min(args.texts, len(texts)), replace=False)]
    encoders = {b: make_encoder(base.model_copy(update={"backend": b}), progress=False) for b in args.backends}
    cells = [(b, n) for b in args.backends for n in SCAN_BATCHES]
    times: dict[tuple[str, int], list[float]] = {c: [] for c in cells}
    for r in range(args.rounds):
        for i in rng.permutation(len(cells)):
            backend, batch = cells[i]
            encoders[backend].batch_size = batch
            start = time.perf_counter()
            encoders[backend].encode(sample)
            times[(backend, batch)].append(time.perf_counter() - start)
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    reference = np.median(times[(args.backends[0], 64)])
    print(
        f"{len(sample)} random texts of {args.dataset}, {args.rounds} interleaved rounds, threads {args.threads}; median texts/s (x {args.backends[0]} at batch 64)"
    )
    record = {"dataset": args.dataset, "texts": len(sample), "rounds": args.rounds, "threads": args.threads, "cells": {}}
    for backend in args.backends:
        row = []
        for batch in SCAN_BATCHES:
            t = float(np.median(times[(backend, batch)]))
            record["cells"][f"{backend}@{batch}"] = {
                "texts_per_s": round(len(sample) / t, 1),
                "vs_reference": round(reference / t, 2),
            }
            row.append(f"batch {batch}: {len(sample) / t:5.1f} ({reference / t:.2f}x)")
        print(f"{backend:>9}: " + "  ".join(row))
    out = OUT.with_name("embed_batches.json")
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


def cache(args: argparse.Namespace) -> None:
    params = load_params(ROOT / "params.yaml")
    cfg = params.embed.model_copy(update={"threads": args.threads})
    items = read_parquet(workspace.prepare("beauty").prepared / "items.parquet")
    texts = texts_of(items, cfg)
    print(f"Beauty: {len(items)} items, {len(set(texts))} distinct texts, mean {sum(map(len, texts)) / len(texts):.0f} chars")
    start = time.perf_counter()
    encoder = make_encoder(cfg, progress=False)
    print(f"model {encoder.key} loaded in {time.perf_counter() - start:.1f} s; backend {cfg.backend}, threads {cfg.threads}")
    with tempfile.TemporaryDirectory() as cache_dir:
        for name, table in [("cold", items.iloc[:-HELD_BACK]), ("warm", items.iloc[:-HELD_BACK]), ("grown", items)]:
            start = time.perf_counter()
            _, n_encoded, _ = embed_items(table, cfg, encoder, Path(cache_dir))
            seconds = time.perf_counter() - start
            rate = f", {n_encoded / seconds:.0f} texts/s" if n_encoded else ""
            print(f"{name:>5}: {len(table)} items in {seconds:7.2f} s, encoded {n_encoded}{rate}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backends", help="texts/s, cosine and SID changes of each embed.backend")
    b.add_argument("--dataset", default="scientific", help="data.dataset whose catalogue is embedded")
    b.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS, help="torch first: the reference")
    s = sub.add_parser("batches", help="texts/s of each engine at each batch size, interleaved rounds")
    s.add_argument("--dataset", default="scientific")
    s.add_argument("--backends", nargs="+", default=["torch", "onnx-int8"], choices=BACKENDS, help="the first is the reference")
    s.add_argument("--texts", type=int, default=256, help="random texts per timing")
    s.add_argument("--rounds", type=int, default=3)
    c = sub.add_parser("cache", help="cold, warm and grown cache on Beauty")
    for p in (b, s, c):
        p.add_argument("--threads", type=int, default=2, help="CPU threads of the encoder")
    args = parser.parse_args()
    {"backends": backends, "batches": batches, "cache": cache}[args.command](args)


if __name__ == "__main__":
    main()
