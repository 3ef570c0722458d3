"""Stage `embed`: item text -> one L2-normalised sentence embedding per item.

Reads params section `embed` and data/prepared/items.parquet; writes
data/features/item_embeddings.npz (row r = item r+1, with the item ids) and embed_meta.json,
after a GX check of the vectors. Encoded texts are cached per model under data/cache/, so a
rerun after adding 100 items to the catalogue encodes those 100 only.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from h2rec import paths
from h2rec.config import EmbedConfig, load_params
from h2rec.data.split import ITEM_GROUP_COLUMNS
from h2rec.devices import resolve_device
from h2rec.errors import DataError
from h2rec.io import read_parquet, require_columns, write_json
from h2rec.sid.checks import validate_embeddings
from h2rec.sid.embedder import EmbeddingCache, Encoder, SentenceEncoder, embed_texts, resolve_model
from h2rec.sid.features import save_embeddings
from h2rec.sid.text import item_texts

log = logging.getLogger(__name__)
NOT_TEXT = {"item", "item_id", *ITEM_GROUP_COLUMNS}  # ids and the split's popularity labels


def make_encoder(cfg: EmbedConfig, progress: bool = True) -> SentenceEncoder:
    import torch

    torch.set_num_threads(cfg.threads)
    # The graph engines run on the CPU; `auto` picks the CPU for them, not a GPU they cannot use.
    device = resolve_device("cpu" if cfg.backend != "torch" and cfg.device == "auto" else cfg.device, "embed.device")
    return SentenceEncoder(
        resolve_model(cfg.model), cfg.batch_size, str(device), progress, backend=cfg.backend, threads=cfg.threads
    )


def text_columns(items: pd.DataFrame, cfg: EmbedConfig) -> list[str]:
    """The columns embedded: those of embed.fields the table has, in that order, then every
    other text column of the table (a dataset's declared text is never silently left out; to
    leave one out, drop it from the source's text columns in data.sources)."""
    listed = [f for f in cfg.fields if f in items.columns]
    return listed + [c for c in items.columns if c not in listed and c not in NOT_TEXT]


def texts_of(items: pd.DataFrame, cfg: EmbedConfig, source: str = "items", columns: list[str] | None = None) -> list[str]:
    fields = columns if columns is not None else text_columns(items, cfg)
    return item_texts(items, fields or cfg.fields, cfg.separator, cfg.label_fields, cfg.max_chars, source)


def embed_items(
    items: pd.DataFrame,
    cfg: EmbedConfig,
    encoder: Encoder | None = None,
    cache_dir: Path | None = paths.EMBED_CACHE,
    source: str = "items",
    columns: list[str] | None = None,
) -> tuple[np.ndarray, int, Encoder]:
    """(vectors (n, dim), how many texts were encoded, the encoder) for an items table;
    `columns` fixes the text columns (default: `text_columns`)."""
    texts = texts_of(items, cfg, source, columns)
    encoder = encoder or make_encoder(cfg)
    cache = EmbeddingCache(cache_dir / f"{encoder.key}.npz", encoder.dim) if cache_dir else None
    vectors, n_encoded = embed_texts(texts, encoder, cache)
    if cache is not None:
        cache.save()
    empty = sum(not t for t in texts)
    if empty:
        log.warning("%s: %d item(s) have no text in %s; they share one embedding", source, empty, cfg.fields)
    return vectors, n_encoded, encoder


def read_items(path: Path) -> pd.DataFrame:
    items = read_parquet(path)
    require_columns(items, ["item", "item_id"], path)
    if not np.array_equal(items["item"].to_numpy(), np.arange(1, len(items) + 1)):
        raise DataError(f"{path}: column 'item' must be 1..{len(items)} in order; rerun `h2rec split`")
    return items


def run(
    cfg: EmbedConfig,
    items_path: Path = paths.PREPARED_ITEMS,
    out_dir: Path = paths.FEATURES,
    cache_dir: Path | None = paths.EMBED_CACHE,
    report_path: Path = paths.EMBED_VALIDATION,
    encoder: Encoder | None = None,
) -> dict:
    """Embed every item of items.parquet; returns a summary (also logged)."""
    start = time.perf_counter()
    items = read_items(items_path)
    columns = text_columns(items, cfg)
    unlisted = [c for c in columns if c not in cfg.fields]
    if unlisted:
        log.info("%s: text column(s) %s are not in embed.fields; embedded after those listed", items_path, unlisted)
    vectors, n_encoded, encoder = embed_items(items, cfg, encoder, cache_dir, str(items_path), columns)
    item_ids = items["item_id"].astype(str).tolist()
    validate_embeddings(vectors, item_ids, items, encoder.dim, report_path)
    save_embeddings(out_dir / paths.ITEM_EMBEDDINGS.name, item_ids, vectors, encoder.key)
    # Deterministic content only (no timings), so an unchanged rerun leaves the file as is.
    meta = {
        "model": cfg.model,
        "model_key": encoder.key,
        "dim": encoder.dim,
        "n_items": len(items),
        "embed": cfg.model_dump(),
        "text_columns": columns,  # what a cold-start item's text is built from, too
    }
    write_json(meta, out_dir / paths.EMBED_META.name)
    summary = {**meta, "n_encoded": n_encoded, "seconds": round(time.perf_counter() - start, 2)}
    log.info(
        "embedded %d items (%d encoded, rest cached) with %s in %.1f s",
        len(items),
        n_encoded,
        encoder.key,
        summary["seconds"],
    )
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> int:
    summary = run(load_params(args.params).embed)
    print(
        f"embed: {summary['n_items']} items -> {paths.ITEM_EMBEDDINGS} ({summary['dim']}-d, "
        f"{summary['model_key']}); encoded {summary['n_encoded']}, the rest from the cache; "
        f"{summary['seconds']} s"
    )
    return 0
