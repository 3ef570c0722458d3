"""Stage `cooccurrence`: PPMI neighbours of every item in the training sequences.

Reads params section `cooccurrence`; writes `data/cooccurrence/ppmi.npz`, which H2Rec's code
alignment uses as extra positives when `train.h2rec.code_cooccurrence` > 0.
"""

from __future__ import annotations

import argparse
import logging

from h2rec import paths
from h2rec.config import CooccurrenceConfig, load_params
from h2rec.data.cooccurrence import cooccurrence_counts, ppmi_neighbours, save_cooccurrence
from h2rec.data.sequences import SeqDataset
from h2rec.paths import Layout

log = logging.getLogger(__name__)


def run(cfg: CooccurrenceConfig, layout: Layout = Layout(), data: SeqDataset | None = None) -> dict[str, float]:
    data = data if data is not None else SeqDataset.load(layout.prepared)
    counts = cooccurrence_counts(data.offsets, data.flat, data.n_train, data.n_items, cfg.window)
    neighbours, ppmi = ppmi_neighbours(counts, cfg.min_count, cfg.top_k)
    save_cooccurrence(layout.cooccurrence, neighbours, ppmi)
    n = (neighbours[1:] > 0).sum(1)
    summary = {
        "pairs": int(counts.nnz // 2),
        "items_with_neighbours": float((n > 0).mean()),
        "mean_neighbours": float(n.mean()),
    }
    log.info("cooccurrence: %s", summary)
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    s = run(params.cooccurrence)
    print(
        f"cooccurrence: {s['pairs']:,} item pairs; {s['items_with_neighbours']:.1%} of items have "
        f"PPMI neighbours ({s['mean_neighbours']:.1f} on average) -> {paths.COOCCURRENCE}"
    )
    return 0
