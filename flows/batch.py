"""Batch scoring as a Prefect flow: top-K lists for every user of a users file, from the champion.

    python -m flows.batch --users batch/users.csv --out batch/recommendations.parquet [--k 20]
    prefect deployment run 'h2rec-batch-recommend/batch-recommend'   # scheduled in prefect.yaml

The users file (CSV, Parquet or JSON lines) has `user_id` and `history` (space-separated item
ids, oldest first), as for `h2rec recommend`. The model alias is resolved to one version when
the flow starts, so a promotion meanwhile cannot mix two models in one output; the output
Parquet (user_id, rank, item_id, title, score) is written atomically. Each run is an MLflow
run (params: input, output, k, model URI and version; metrics: users scored and skipped).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from prefect import flow, task

from flows.policies import IO_TASK
from h2rec.commands.recommend import load_recommender, score_file
from h2rec.config import load_params
from h2rec.lifecycle.registry import pinned_version
from h2rec.tracking.run import Run

DEFAULT_USERS, DEFAULT_OUT = "batch/users.csv", "batch/recommendations.parquet"


@task(name="score-users", **IO_TASK)
def score_task(model_uri: str, users: str, out: str, k: int, chunk: int) -> dict[str, int]:
    return score_file(load_recommender(model_uri), Path(users), Path(out), k, chunk)


@flow(name="h2rec-batch-recommend", log_prints=True)
def batch_recommend(
    users: str = DEFAULT_USERS,
    out: str = DEFAULT_OUT,
    k: int = 10,
    model: str | None = None,
    project_dir: str | None = None,
    params_path: str = "params.yaml",
    chunk: int = 2048,
) -> dict:
    """Score `users` with `model` (default: `models:/<register.model_name>@champion`) into `out`."""
    if project_dir:
        os.chdir(project_dir)
    params = load_params(params_path)
    model = model or f"models:/{params.register_.model_name}@champion"
    with Run(params.train.tracking.experiment, run_name="batch-recommend") as run:
        pinned, version = pinned_version(model)
        run.set_tags({"kind": "batch", "model_uri": model})
        run.log_params({"input": users, "output": out, "k": k, "model_uri": model, "model_version": version or "-"})
        counts = score_task(pinned, users, out, k, chunk)
        run.log_metrics({k_: float(v) for k_, v in counts.items()})
    print(f"scored {counts['users_scored']} of {counts['users']} users with {pinned} -> {out}")
    return {**counts, "model_uri": pinned, "model_version": version, "out": out}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", default=DEFAULT_USERS, help="users file (default: %(default)s)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output Parquet (default: %(default)s)")
    parser.add_argument("--k", type=int, default=10, help="list length (default: %(default)s)")
    parser.add_argument("--model", help="model URI (default: models:/<register.model_name>@champion)")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    batch_recommend(args.users, args.out, args.k, args.model, params_path=args.params)


if __name__ == "__main__":
    main()
