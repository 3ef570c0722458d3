"""`h2rec` command line. Each command lives in its own module under h2rec/commands or
h2rec/stages and is imported only when run, so `h2rec --help` stays fast.

A command module provides `add_arguments(parser)` and `main(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from h2rec.errors import H2RecError

# name -> (module, one-line help). The order is the pipeline's order.
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("h2rec.stages.ingest", "read the chosen dataset, validate it, write canonical Parquet"),
    "split": ("h2rec.stages.split", "k-core, leave-one-out split, popularity groups, dataset statistics"),
    "embed": ("h2rec.stages.embed", "encode item text with a sentence-transformers model (cached)"),
    "tokenize": (
        "h2rec.stages.tokenize",
        "fit the residual quantizer and write Semantic IDs; with --items, assign SIDs to new items",
    ),
    "cooccurrence": (
        "h2rec.stages.cooccurrence",
        "PPMI co-occurrence neighbours of items in training sequences (H2Rec code alignment)",
    ),
    "train": ("h2rec.stages.train", "train the model chosen in params.yaml (train.model)"),
    "evaluate": ("h2rec.stages.evaluate", "full-ranking and sampled evaluation with head/tail groups"),
    "register": ("h2rec.stages.register", "log the model as a pyfunc, register it, promote it to @champion if it wins"),
    "recommend": ("h2rec.commands.recommend", "top-K items with titles for a file of user histories"),
    "stats": ("h2rec.commands.stats", "print the dataset statistics table of the last split"),
    "report": ("h2rec.commands.report", "tables, plots and summary.json of the sweep runs in MLflow (docs/results/)"),
    "tune": ("h2rec.commands.tune", "Optuna search of a grid variant's train settings (params tune), trials in MLflow"),
}

# The DVC stages (h2rec/stages/, one per stage of dvc.yaml, in its order); the rest are tools.
STAGES = ("ingest", "split", "embed", "tokenize", "cooccurrence", "train", "evaluate", "register")

EPILOG = f"""\
Every command reads params.yaml (or --params) and uses only its own section of it.
`dvc repro` runs the pipeline's stages in order, {" -> ".join(STAGES)},
and skips what has not changed; `python -m flows.pipeline` runs the same stages as a Prefect
flow, `python -m flows.data` the data half, `python -m flows.sweep` model comparisons.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="h2rec",
        description="H2Rec sequential recommender: data, Semantic IDs, training, evaluation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--params", default="params.yaml", help="parameters file (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module_name, help_text = COMMANDS[args.command]
    module = importlib.import_module(module_name)
    sub = argparse.ArgumentParser(prog=f"h2rec {args.command}", description=help_text)
    module.add_arguments(sub)
    sub_args = sub.parse_args(rest)
    sub_args.params = args.params
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("great_expectations", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(module.main(sub_args) or 0)
    except H2RecError as e:
        print(f"h2rec {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
