"""Embedding speed on Amazon Beauty's 12,101 titles, and what the cache saves (docs/sid.md).

    python bench/bench_embed.py [--threads 2]

1. cold: 12,001 items (the last 100 held back) into an empty cache -> items/s;
2. warm: the same 12,001 again, cache loaded from disk -> seconds (nothing encoded);
3. grown: all 12,101 -> encodes exactly the 100 new titles.
The model is loaded once before timing (its load time is printed apart). Data comes through
the pipeline's own stages (bench/workspace.py) with params `embed`; the timed cache lives
in a temporary folder, so the project's cache is neither used nor touched. Wall-clock times
on whatever machine runs this; on a shared machine they vary.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import workspace  # noqa: E402  (bench/, beside this script)

from h2rec.config import load_params  # noqa: E402
from h2rec.io import read_parquet  # noqa: E402
from h2rec.stages.embed import embed_items, make_encoder, texts_of  # noqa: E402

HELD_BACK = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, help="torch threads (default: params embed.threads)")
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    cfg = params.embed if args.threads is None else params.embed.model_copy(update={"threads": args.threads})

    items = read_parquet(workspace.prepare("beauty").prepared / "items.parquet")
    texts = texts_of(items, cfg)
    print(f"Beauty: {len(items)} items, {len(set(texts))} distinct texts, mean {sum(map(len, texts)) / len(texts):.0f} chars")

    start = time.perf_counter()
    encoder = make_encoder(cfg, progress=False)
    print(
        f"model {encoder.key} loaded in {time.perf_counter() - start:.1f} s; torch threads {cfg.threads}, batch {cfg.batch_size}"
    )

    with tempfile.TemporaryDirectory() as cache_dir:
        runs = [("cold", items.iloc[:-HELD_BACK]), ("warm", items.iloc[:-HELD_BACK]), ("grown", items)]
        for name, table in runs:
            start = time.perf_counter()
            _, n_encoded, _ = embed_items(table, cfg, encoder, Path(cache_dir))
            seconds = time.perf_counter() - start
            rate = f", {n_encoded / seconds:.0f} texts/s" if n_encoded else ""
            print(f"{name:>5}: {len(table)} items in {seconds:7.2f} s, encoded {n_encoded}{rate}")


if __name__ == "__main__":
    main()
