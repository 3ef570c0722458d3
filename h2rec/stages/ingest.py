"""Stage `ingest`: read the dataset chosen in params.yaml, validate it, write canonical Parquet.

Reads params sections `data` and `validate`. Validation runs before anything is written, so
a bad input leaves the previous canonical tables as they were.
"""

from __future__ import annotations

import argparse
import logging

from h2rec import paths
from h2rec.config import DataConfig, ValidateConfig, load_params
from h2rec.data.adapters import load_source
from h2rec.io import write_parquet
from h2rec.paths import Layout
from h2rec.validation.data_suites import validate_canonical

log = logging.getLogger(__name__)


def run(data: DataConfig, validate: ValidateConfig, layout: Layout = Layout()) -> dict[str, int]:
    interactions, items = load_source(data.source)
    log.info("read %s: %d events, %d items", data.dataset, len(interactions), len(items))
    validate_canonical(interactions, items, validate, layout.reports / "validation" / "canonical.json")
    write_parquet(interactions, layout.canonical / paths.CANONICAL_INTERACTIONS.name)
    write_parquet(items, layout.canonical / paths.CANONICAL_ITEMS.name)
    return {"interactions": len(interactions), "items": len(items)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="override data.dataset for this run")


def main(args: argparse.Namespace) -> int:
    overrides = {"data": {"dataset": args.dataset}} if args.dataset else None
    params = load_params(args.params, overrides)
    counts = run(params.data, params.validate_)
    print(f"ingest: {params.data.dataset}: {counts['interactions']:,} events, {counts['items']:,} items")
    return 0
