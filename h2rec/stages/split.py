"""Stage `split`: k-core, leave-one-out split, popularity and user groups, statistics.

Reads params section `preprocess`. The split is validated before anything is written.
"""

from __future__ import annotations

import argparse

from h2rec import paths
from h2rec.config import PreprocessConfig, load_params
from h2rec.data.split import Prepared, prepare
from h2rec.data.stats import dataset_stats, format_stats
from h2rec.io import read_parquet, write_json, write_parquet
from h2rec.paths import Layout
from h2rec.validation.data_suites import validate_split


def run(preprocess: PreprocessConfig, layout: Layout = Layout()) -> tuple[Prepared, dict]:
    interactions = read_parquet(layout.canonical / paths.CANONICAL_INTERACTIONS.name)
    items = read_parquet(layout.canonical / paths.CANONICAL_ITEMS.name)
    prep = prepare(interactions, items, preprocess)
    validate_split(prep, preprocess, layout.reports / "validation" / "split.json")
    stats = dataset_stats(prep)
    write_parquet(prep.interactions, layout.prepared / paths.PREPARED_INTERACTIONS.name)
    write_parquet(prep.items, layout.prepared / paths.PREPARED_ITEMS.name)
    write_parquet(prep.users, layout.prepared / paths.PREPARED_USERS.name)
    write_json(stats, layout.metrics / paths.DATA_STATS.name)
    return prep, stats


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    _, stats = run(params.preprocess)
    print(format_stats(stats, "dataset statistics (metrics/data_stats.json):"))
    return 0
