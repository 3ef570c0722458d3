"""Stage `register`: log the trained model as a pyfunc, register it, run the champion gate.

Reads params section `register`. The model is logged from code (no pickle; see
h2rec.lifecycle.pyfunc) into the training's MLflow run (models/recommender/run.json),
registered under `register.model_name`, aliased `@challenger`, and promoted to `@champion`
if the gate allows (h2rec.lifecycle.gate). Writes metrics/register.json with the version and
the decision. A test set without tail targets (a tiny dataset) has no tail NDCG@10: the gate
then compares overall NDCG@10 alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

from h2rec import paths
from h2rec.config import RegisterConfig, load_params
from h2rec.errors import DataError
from h2rec.io import read_parquet, write_json
from h2rec.lifecycle.gate import UNVERSIONED
from h2rec.lifecycle.serving import make_bundle
from h2rec.tracking.run import Run, load_run_id
from h2rec.tracking.tags import data_version

log = logging.getLogger(__name__)
OVERALL, TAIL, TAIL_CASES = "full/overall/ndcg_10", "full/tail/ndcg_10", "full/tail/cases"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> int:
    record = run(load_params(args.params).register_)
    print(
        f"registered {record['model_name']} v{record['version']}: "
        f"{'@champion' if record['promoted'] else '@challenger'} ({record['reason']})"
    )
    return 0


def _example(prepared: Path, n: int) -> object:
    import pandas as pd

    inter = read_parquet(prepared / "interactions.parquet")
    items = read_parquet(prepared / "items.parquet", ["item", "item_id"]).set_index("item")["item_id"]
    train = inter[(inter["split"] == "train") & (inter["user"] < n)].sort_values(["user", "pos"])
    hist = train.groupby("user")["item"].apply(lambda s: " ".join(items.loc[s].astype(str)))
    return pd.DataFrame({"user_id": [f"user{u}" for u in hist.index], "history": hist.to_numpy()})


def run(
    cfg: RegisterConfig,
    model_dir: Path = paths.MODEL_DIR,
    eval_path: Path = paths.EVAL_METRICS,
    prepared: Path = paths.PREPARED,
    record_path: Path = paths.REGISTER_RECORD,
) -> dict:
    from h2rec.lifecycle.pyfunc import log_recommender
    from h2rec.lifecycle.registry import register_and_gate

    metrics = json.loads(Path(eval_path).read_text()) if Path(eval_path).exists() else {}
    if TAIL not in metrics and metrics.get(TAIL_CASES) == 0:
        log.warning("%s: no test case has a tail target; the gate compares overall NDCG@10 only", eval_path)
        metrics[TAIL] = 0.0
    if OVERALL not in metrics or TAIL not in metrics:
        raise DataError(f"{eval_path}: needs {OVERALL} and {TAIL}; run `h2rec evaluate` (test split) first")
    previous = load_run_id(Path(model_dir))
    if previous is None:
        raise DataError(f"{model_dir}/run.json: no MLflow run; train with train.tracking.enabled: true")
    # The gate compares test metrics of this very checkpoint: not validation ones, not another model's.
    if metrics.get("split", "test") != "test":
        raise DataError(f"{eval_path}: metrics of the {metrics['split']} split; run `h2rec evaluate` with evaluate.split: test")
    if metrics.get("model_run_id") and metrics["model_run_id"] != previous["run_id"]:
        raise DataError(
            f"{eval_path} evaluates the model of MLflow run {metrics['model_run_id']}, but {model_dir} holds run "
            f"{previous['run_id']}: evaluate this model first (`h2rec evaluate`, or `dvc repro evaluate`)"
        )
    version_of_data = data_version() or UNVERSIONED
    with tempfile.TemporaryDirectory() as tmp:
        bundle = make_bundle(Path(tmp) / "bundle", model_dir, prepared)
        example = _example(prepared, cfg.example_users)
        with Run(previous["experiment"], run_id=previous["run_id"]) as mlrun:
            info = log_recommender(bundle, example, cfg.top_k)
            mlrun.set_tags({"registered_model": cfg.model_name})
    version, decision = register_and_gate(
        info.model_uri,
        cfg.model_name,
        version_of_data,
        metrics[OVERALL],
        metrics[TAIL],
        cfg.tail_margin,
        extra_tags={"run_id": previous["run_id"]},
    )
    record = {
        "model_name": cfg.model_name,
        "version": int(version),
        "promoted": decision.promote,
        "reason": decision.reason,
        "data_version": version_of_data,
        "model_uri": info.model_uri,
        "overall_ndcg10": metrics[OVERALL],
        "tail_ndcg10": metrics[TAIL],
    }
    write_json(record, record_path)
    return record
