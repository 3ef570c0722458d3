"""`h2rec stats`: print the statistics of the last split (metrics/data_stats.json)."""

from __future__ import annotations

import argparse
import json

from h2rec import paths
from h2rec.data.stats import format_stats
from h2rec.errors import DataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")


def main(args: argparse.Namespace) -> int:
    if not paths.DATA_STATS.exists():
        raise DataError(f"{paths.DATA_STATS}: not found; run `h2rec split` or `dvc repro` first")
    stats = json.loads(paths.DATA_STATS.read_text())
    if args.markdown:
        print("| statistic | value |\n|---|---|")
        print("\n".join(f"| {k} | {v:,} |" if isinstance(v, int) else f"| {k} | {v} |" for k, v in stats.items()))
    else:
        print(format_stats(stats))
    return 0
