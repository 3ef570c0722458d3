"""The data half of the pipeline as a Prefect flow: ingest -> validate -> split.

    python -m flows.data [--params params.yaml] [--dataset beauty]

`--dataset` is written into params.yaml (`data.dataset`, comments kept), as `dvc exp run -S`
would: DVC compares params.yaml with dvc.lock, so an override held only in memory would leave
dvc.lock describing data the stages did not produce. Runs without a server (Prefect starts a temporary one); with PREFECT_API_URL set it reports to
that server instead. Each task calls the same `run` function as the matching DVC stage.
"""

from __future__ import annotations

import argparse

from prefect import flow, task

from flows.overrides import set_params
from flows.policies import IO_TASK
from h2rec.config import DataConfig, PreprocessConfig, ValidateConfig, load_params
from h2rec.data.stats import format_stats
from h2rec.stages import ingest, split


@task(name="ingest-and-validate", **IO_TASK)
def ingest_task(data: DataConfig, validate: ValidateConfig) -> dict:
    return ingest.run(data, validate)


@task(name="split-and-validate", **IO_TASK)
def split_task(preprocess: PreprocessConfig) -> dict:
    _, stats = split.run(preprocess)
    return stats


@flow(name="h2rec-data", log_prints=True)
def data_flow(params_path: str = "params.yaml", dataset: str | None = None) -> dict:
    """Read, validate and split the chosen dataset; return its statistics."""
    if dataset:
        load_params(params_path, {"data": {"dataset": dataset}})  # refuse an unknown dataset before writing
        set_params(params_path, {"data.dataset": dataset})
    params = load_params(params_path)
    counts = ingest_task(params.data, params.validate_)
    print(f"ingested {params.data.dataset}: {counts}")
    stats = split_task(params.preprocess)
    print(format_stats(stats, "dataset statistics:"))
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dataset", help="set data.dataset in params.yaml first")
    args = parser.parse_args(argv)
    data_flow(args.params, args.dataset)


if __name__ == "__main__":
    main()
