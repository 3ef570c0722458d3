"""A benchmark's own copy of a pipeline's inputs, made by the pipeline's own stages.

    layout = workspace.prepare("beauty")            # data/bench/beauty/{data,metrics,reports}/...
    inputs = load_inputs(cfg, layout)               # what `h2rec train` would read

`prepare` runs ingest, split, embed, tokenize and cooccurrence (their `run` functions, with
params.yaml's sections and the chosen dataset) into `Layout.under(data/bench/<dataset>)`,
once; nothing the pipeline owns under data/ is touched, and text embeddings come from the
shared cache (data/cache/embeddings), so a dataset is embedded once for both. `method`
chooses the quantizer of the Semantic IDs (their own folder per method).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
BENCH_DATA = ROOT / "data" / "bench"

# The training settings the benchmarks' figures were measured at (docs/benchmarks.md): plain
# random tables, no logit adjustment, and the backbone and optimiser of the grids' `base`.
# Pinned here so that moving params.yaml's defaults (now a tuned configuration) moves no
# benchmark, and a SASRec here stays the plain SASRec of RecBole's comparison.
MEASURED_AT = {
    "hid": {"init": "random"},
    "sid": {"init": "random"},
    "logit_adjustment": 0.0,
    "lr": 1e-3,
    "batch_size": 256,
    "backbone": {"layers": 2, "dropout": 0.5, "attn_dropout": 0.5},
}


def train_config(**over):
    """TrainConfig at MEASURED_AT with `over` on top (flat keys: model, loss, epochs, ...)."""
    from h2rec.config import TrainConfig, merge

    return TrainConfig.model_validate(merge(MEASURED_AT, over))


def prepare(dataset: str, method: str = "rqkmeans", params_path: Path = ROOT / "params.yaml", upto: str = "cooccurrence"):
    """The Layout of `dataset`'s prepared inputs (made on first use), from ingest up to the
    stage `upto` (split, embed, tokenize or cooccurrence)."""
    from h2rec import paths
    from h2rec.config import load_params
    from h2rec.paths import Layout
    from h2rec.stages import cooccurrence, embed, ingest, split, tokenize

    params = load_params(params_path, {"data": {"dataset": dataset}})
    layout = Layout.under(BENCH_DATA / dataset)
    layout = replace(layout, sid=layout.sid.with_name(f"sid-{method}") if method != "rqkmeans" else layout.sid)
    reports = layout.reports / "validation"
    here = os.getcwd()
    os.chdir(ROOT)  # the dataset paths in params.yaml are relative to the project root
    try:
        if not (layout.prepared / paths.PREPARED_ITEMS.name).exists():
            ingest.run(params.data, params.validate_, layout)
            split.run(params.preprocess, layout)
        if upto == "split":
            return layout
        items = layout.prepared / paths.PREPARED_ITEMS.name
        if not layout.item_embeddings.exists():
            embed.run(
                params.embed,
                items_path=items,
                out_dir=layout.features,
                cache_dir=paths.EMBED_CACHE,
                report_path=reports / "embeddings.json",
            )
        if upto == "embed":
            return layout
        if not (layout.sid / paths.SIDS.name).exists():
            tokenize.run(
                params.tokenize.model_copy(update={"method": method}),
                features_dir=layout.features,
                items_path=items,
                out_dir=layout.sid,
                metrics_path=layout.metrics / f"tokenizer-{method}.json",
                reports_dir=layout.reports / f"sid-{method}",
                report_path=reports / f"sids-{method}.json",
            )
        if upto == "tokenize":
            return layout
        if not layout.cooccurrence.exists():
            cooccurrence.run(params.cooccurrence, layout)
    finally:
        os.chdir(here)
    return layout


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description="Prepare a dataset's inputs under data/bench/<dataset>/ with the pipeline's stages."
    )
    parser.add_argument("dataset", nargs="?", default="beauty")
    parser.add_argument("--method", default="rqkmeans", help="quantizer of the Semantic IDs")
    args = parser.parse_args()
    print(prepare(args.dataset, args.method))
