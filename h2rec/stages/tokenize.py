"""Stage `tokenize`: item embeddings -> residual-quantized Semantic IDs.

Reads params section `tokenize`, data/features/ and data/prepared/items.parquet. Fits the
quantizer (RQ-KMeans or RQ-VAE), adds the dedup level, checks the table with GX, and only then
replaces data/sid/ as a whole (sids.parquet, sid_meta.json, quantizer/). Writes the tokenizer
metrics (metrics/tokenizer.json) and code-usage table and plot (reports/sid/).

Cold start, `h2rec tokenize --items new.csv [--out new_sids.parquet]`: SIDs for items the
quantizer has never seen, from their text alone (embedded with params `embed`, which must be
what built the fitted embeddings), without refitting. An existing item's text gets its fitted
codes; the dedup column continues counting from the fitted table.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from h2rec import paths
from h2rec.config import EmbedConfig, TokenizeConfig, load_params
from h2rec.errors import ConfigError, DataError
from h2rec.io import atomic_path, write_json, write_parquet
from h2rec.sid.checks import validate_sids
from h2rec.sid.embedder import Encoder
from h2rec.sid.features import load_embeddings
from h2rec.sid.loading import load_quantizer
from h2rec.sid.quantizer import ResidualQuantizer
from h2rec.sid.report import plot_usage, tokenizer_metrics, usage_table
from h2rec.sid.sids import code_columns, dedup_level, sid_meta, sid_table
from h2rec.stages.embed import embed_items, make_encoder, read_items

log = logging.getLogger(__name__)


def make_quantizer(cfg: TokenizeConfig) -> ResidualQuantizer:
    from h2rec.sid.rqkmeans import RQKMeans
    from h2rec.sid.rqvae import RQVAE

    if cfg.method == "rqkmeans":
        return RQKMeans(cfg.levels, cfg.codebook_size, cfg.seed, cfg.kmeans_iters, cfg.normalize_residuals)
    return RQVAE(cfg.levels, cfg.codebook_size, cfg.seed, **cfg.rqvae.model_dump())


def set_threads(n: int) -> None:
    import faiss
    import torch

    faiss.omp_set_num_threads(n)
    torch.set_num_threads(n)


def run(
    cfg: TokenizeConfig,
    features_dir: Path = paths.FEATURES,
    items_path: Path = paths.PREPARED_ITEMS,
    out_dir: Path = paths.SID,
    metrics_path: Path = paths.TOKENIZER_METRICS,
    reports_dir: Path = paths.SID_REPORTS,
    report_path: Path = paths.SID_VALIDATION,
) -> dict:
    """Fit, assign, validate, write. Returns the tokenizer metrics."""
    items = read_items(items_path)
    emb = load_embeddings(features_dir / paths.ITEM_EMBEDDINGS.name, items)
    set_threads(cfg.threads)
    quantizer = make_quantizer(cfg)
    start = time.perf_counter()
    quantizer.fit(emb.vectors)
    fit_seconds = time.perf_counter() - start
    # Codes come from encode(), not from the fit's last assignment, so that cold start (which
    # can only encode) reproduces them exactly.
    codes = quantizer.encode(emb.vectors)
    dedup, counts = dedup_level(codes) if cfg.dedup else (None, None)
    table = sid_table(emb.item_ids.tolist(), codes, dedup)
    meta = sid_meta(cfg.levels, cfg.codebook_size, quantizer.method, dedup, emb.model_key)
    validate_sids(table, items, meta["cardinalities"], cfg.dedup, report_path)

    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", dir=_parent(out_dir)) as tmp:
        staged = Path(tmp) / out_dir.name
        quantizer.save(staged / paths.SID_QUANTIZER.name, model_key=emb.model_key, dedup_counts=counts)
        write_parquet(table, staged / paths.SIDS.name)
        write_json(meta, staged / paths.SID_META.name)
        replace_dir(staged, out_dir)

    metrics = tokenizer_metrics(emb.vectors, quantizer.decode(codes), codes, cfg.codebook_size, fit_seconds)
    if dedup is not None:
        metrics["dedup_cardinality"] = meta["cardinalities"][-1]
    if quantizer.method == "rqvae":
        metrics["rqvae_epochs"] = len(quantizer.history)
    write_json(metrics, metrics_path)
    usage = usage_table(codes, cfg.codebook_size)
    write_parquet_or_csv(usage, reports_dir / paths.CODE_USAGE_TABLE.name)
    title = f"{quantizer.method}, {len(codes)} items"
    plot_usage(codes, cfg.codebook_size, reports_dir / paths.CODE_USAGE_PLOT.name, title)
    return metrics


def _parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent


def replace_dir(staged: Path, dest: Path) -> None:
    """Move a fully written directory into place; the old one is removed only afterwards."""
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{time.time_ns()}")
        dest.rename(old)
    staged.rename(dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_parquet_or_csv(df: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        write_parquet(df, path)
        return
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


# -- cold start ------------------------------------------------------------------------------
def assign_new_items(
    items: pd.DataFrame,
    embed_cfg: EmbedConfig,
    sid_dir: Path = paths.SID,
    features_dir: Path = paths.FEATURES,
    encoder: Encoder | None = None,
    cache_dir: Path | None = paths.EMBED_CACHE,
    source: str = "items",
) -> pd.DataFrame:
    """`item_id` + `code_*` for each row of `items` (item_id + text columns), with the
    saved quantizer and dedup table; nothing is refitted or rewritten."""
    if "item_id" not in items.columns:
        raise DataError(f"{source}: needs an 'item_id' column; found {list(items.columns)}")
    quantizer = load_quantizer(sid_dir / paths.SID_QUANTIZER.name)
    columns = _check_embed_params(embed_cfg, features_dir / paths.EMBED_META.name)
    encoder = encoder or make_encoder(embed_cfg, progress=len(items) > 1000)
    if encoder.key != quantizer.model_key:
        raise DataError(
            f"{sid_dir}: the quantizer was fitted on embeddings of model {quantizer.model_key}, "
            f"but params embed.model gives {encoder.key}; rerun `dvc repro tokenize`"
        )
    vectors, _, _ = embed_items(items, embed_cfg, encoder, cache_dir, source, columns)
    codes = quantizer.encode(vectors)
    out = pd.DataFrame({"item_id": items["item_id"].astype(str).to_numpy()})
    if quantizer.dedup_counts is not None:
        dedup, _ = dedup_level(codes, quantizer.dedup_counts)
        codes = np.column_stack([codes, dedup])
        _warn_dedup_overflow(dedup, sid_dir / paths.SID_META.name)
    for name, column in zip(code_columns(codes.shape[1]), codes.T):
        out[name] = column.astype(np.int32)
    return out


def _check_embed_params(cfg: EmbedConfig, meta_path: Path) -> list[str] | None:
    """Texts must be built and embedded as they were for the fitted items, or an existing
    item's text would no longer land on its own codes. Returns the fitted text columns."""
    if not meta_path.exists():
        log.warning("%s not found: cannot check that params `embed` still match the fit", meta_path)
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    fitted = meta.get("embed", {})
    now = cfg.model_dump()
    speed_only = ("batch_size", "threads", "device")
    changed = {k: (fitted.get(k), v) for k, v in now.items() if fitted.get(k) != v and k not in speed_only}
    if changed:
        raise ConfigError(
            f"params.yaml embed changed since the SIDs were fitted ({changed}, fitted vs now); rerun `dvc repro tokenize` first"
        )
    return meta.get("text_columns")


def _warn_dedup_overflow(dedup: np.ndarray, meta_path: Path) -> None:
    card = json.loads(meta_path.read_text(encoding="utf-8"))["cardinalities"][-1] if meta_path.exists() else None
    if card is not None and len(dedup) and dedup.max() >= card:
        log.warning(
            "%d new item(s) got a dedup code >= %d, the fitted table's cardinality: a model "
            "trained on it has no embedding for that code (refit to include them)",
            int((dedup >= card).sum()),
            card,
        )


def read_new_items(path: Path) -> pd.DataFrame:
    from h2rec.data.readers import read_table

    return read_table(Path(path))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=Path, help="cold start: CSV/Parquet of new items (item_id + text columns)")
    parser.add_argument(
        "--out",
        type=Path,
        help="with --items: where to write their SIDs (.parquet or .csv; default <items>_sids.parquet)",
    )


def main(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    if args.items is None:
        if args.out is not None:
            raise ConfigError("--out only applies with --items (cold start)")
        m = run(params.tokenize)
        levels = params.tokenize.levels
        util = ", ".join(f"{m[f'level_{l}_utilisation']:.0%}" for l in range(levels))
        print(
            f"tokenize: {m['n_items']} items -> {paths.SIDS} ({params.tokenize.method}, {levels} x "
            f"{params.tokenize.codebook_size}); utilisation per level {util}; unique tuples "
            f"{m['unique_tuple_share']:.1%}; largest collision group {m['largest_collision_group']}; "
            f"rel. reconstruction error {m['rel_recon_error']:.3f}; fit {m['fit_seconds']:.1f} s"
        )
        return 0
    items = read_new_items(args.items)
    sids = assign_new_items(items, params.embed, source=str(args.items))
    out = args.out or args.items.with_name(f"{args.items.stem}_sids.parquet")
    write_parquet_or_csv(sids, out)
    shown = sids.head(10).copy()
    if "title" in items.columns:
        shown.insert(1, "title", items["title"].astype(str).str.slice(0, 40).to_numpy()[: len(shown)])
    print(shown.to_string(index=False))
    if len(sids) > len(shown):
        print(f"... {len(sids) - len(shown)} more")
    print(f"tokenize: Semantic IDs of {len(sids)} new item(s) -> {out}")
    return 0
