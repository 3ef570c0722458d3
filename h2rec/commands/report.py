"""`h2rec report`: tables, plots and summary.json of the sweep runs in MLflow.

    python -m flows.sweep --grid experiments/main.yaml --seeds 0 1 2
    python -m flows.sweep --grid experiments/ablation.yaml --seeds 0 1 2
    h2rec report                       # MLflow -> docs/results/runs.csv -> tables, plots, summary.json
    h2rec report --from-export         # the same outputs from docs/results/runs.csv alone

Runs: the FINISHED runs of the MLflow experiment `--experiment` that carry a `variant` tag,
i.e. the trial runs of flows/sweep.py (tags `dataset`, `sweep`, `variant`, `model`, `seed`) with
the test metrics the evaluate stage logged. When a (dataset, variant, seed) ran more than once
(a rerun, or `h2rec` in both the main and the ablation sweep) the most recent run counts. A run
trained on a GPU (its `device` tag says cuda) counts as the variant `<variant>_gpu`: its seeds
are never pooled with, and never replace, the CPU's, so that every comparison stays within one
device (fp32 with TF32 matmuls there, plain fp32 here).

Outputs, in --out (default docs/results/):
  runs.csv              one row per run: dataset, sweep, variant, model, seed, run_id, config (the
                        sweep's fingerprint of the variant's overrides: seeds of two configurations
                        under one name are flagged on the dataset page) and its test metrics.
                        Committed (mlruns/ is not): every other output is made from this
                        file, so `--from-export` rebuilds them identically without MLflow.
                        Rows of an earlier export that MLflow does not hold (a store of another
                        machine) are kept; MLflow's run of the same dataset, variant and seed wins.
  tuning.csv            one row per `h2rec tune` trial (state, best validation NDCG@10, epochs,
                        wall seconds, sampled settings), merged the same way.
  <dataset>.md          per protocol (full ranking, sampled-100): mean +- std over seeds of
                        NDCG@10 and HR@10 overall / head / tail / short / long, the number of
                        seeds, and each model's relative gain over each baseline with the Welch
                        p-value; cold targets, learned gate, list diversity when logged; the
                        ablation table (change against `h2rec`) when the ablation sweep ran.
  <dataset>_groups.png  test NDCG@10 (full ranking) by target popularity group, per model.
  <dataset>_mechanisms.png  the learned gate by user length and by target popularity, and the
                        tail share and coverage of every model's top-10 lists (when logged).
  summary.json          {"rows": [{dataset, protocol, grouping, group, metric, model, mean, std,
                        seeds}], "comparisons": [{dataset, protocol, grouping, group, metric,
                        model, baseline, rel_gain, p_value}]}; `model` is the variant name,
                        `seeds` the number of seeds, std the sample standard deviation (null
                        for one seed), rel_gain = mean / mean of the baseline - 1, p_value from
                        Welch's t-test over seeds (null under 2 seeds on either side).

Metric names are those of the evaluate stage: `<protocol>/<group>/<metric>`, e.g.
`full/tail/ndcg_10` or `sampled100/head/hr_10`; `full/cold/...` and `cold_cases` for test
targets never seen in training; `gate/<group>/level_<l>` for H2Rec's mean gate by user
length (all, short, long) and by the target's popularity (head, tail, bucket_<b>).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from h2rec.errors import DataError
from h2rec.io import atomic_path

log = logging.getLogger(__name__)

OUT = Path("docs/results")
EXPORT = "runs.csv"
TUNING_EXPORT = "tuning.csv"  # one row per tuning trial (h2rec tune)
TUNING_COLUMNS = ["dataset", "variant", "model", "trial", "state", "value", "best_epoch", "epochs", "wall_s", "params", "run_id"]
ID_COLUMNS = ["dataset", "sweep", "variant", "model", "seed", "run_id"]
CONFIG = "config"  # the sweep's fingerprint of a variant's overrides ("" for runs logged before it was tagged)
TEXT_COLUMNS = [*ID_COLUMNS, CONFIG]  # the export's columns that are not metrics
PROTOCOLS = {
    "full": "full ranking over the catalogue, history excluded",
    "sampled100": "sampled: the target against 100 random unseen items",
}
GROUPING = "ours"  # the split stage's popularity and history-length groups
PAPER = "paper_"  # the evaluator's prefix of the paper's groups (h2rec/eval/groups.py)
PAPER_GROUPING = (
    "head: >= evaluate.paper_groups.ts_item occurrences over whole sequences; short: < ts_user items before the target"
)
METRIC_KEY = re.compile(r"^(full|sampled100)/([^/]+)/([^/]+)$")
GATE_KEY = re.compile(r"^gate/(all|short|long|head|tail|bucket_\d+)/level_(\d+)$")
COLD_CASES = "cold_cases"

TABLE_GROUPS = ["overall", "head", "tail", "short", "long"]
GROUP_ORDER = TABLE_GROUPS + ["cold"]
METRIC_ORDER = ["hr_5", "ndcg_5", "hr_10", "ndcg_10", "hr_20", "ndcg_20"]
MODEL_ORDER = [
    "pop", "sasrec", "sasrec_h128", "sasrec_ssm", "sasrec_h128_ssm", "sasrec_published", "sasrec_published_preln",
    "llminit_sasrec", "llminit_sasrec_tuned", "sid_sasrec", "llm_esr", "llm_esr_tuned",
    "gru4rec", "gru4rec_sid", "bert4rec", "bert4rec_sid", "naive_sum", "naive_sum_tuned", "gru4rec_h2rec", "bert4rec_h2rec", "h2rec_d32", "h2rec",
    "text_init_la025_tuned",
]  # fmt: skip
# The baselines of experiments/baselines.yaml every model is compared with by default (absent ones
# skipped); the naive SID+HID sum is the baseline the method is built to beat.
GPU = "_gpu"  # the variant suffix of runs trained on a GPU (tag device=cuda)
# Baselines that stand for a backbone rather than a method: only the variants on that backbone
# and device (`gru4rec_sid`, `gru4rec_h2rec`, ...) are compared with them, which is the
# backbone-agnostic claim.
BACKBONE_BASELINES = {"gru4rec", "bert4rec", "gru4rec" + GPU, "bert4rec" + GPU}
BASELINES = [
    "sasrec", "sasrec_h128", "sasrec_ssm", "sasrec_published", "llminit_sasrec", "llminit_sasrec_tuned", "llm_esr",
    "llm_esr_tuned", "naive_sum", "naive_sum_tuned", "sasrec" + GPU,
]  # fmt: skip
BASELINES += sorted(BACKBONE_BASELINES)
REFERENCE = "h2rec"  # what the ablations are compared with
ABLATION_SWEEP = "ablation"
# Sweeps that answer one question each get a table of their own instead of rows in the main
# tables: title, and each variant's reference (a mapping; variants it lacks are compared with
# REFERENCE, or with nothing when they are a reference themselves).
SIDE_SWEEPS = {
    ABLATION_SWEEP: ("Ablations", {}),
    "fidelity": ("The method's version of each mechanism (experiments/fidelity.yaml, docs/method.md)", {}),
    "tail": (
        "Ours: logit adjustment for the tail (experiments/tail.yaml)",
        {
            "sasrec_la05": "sasrec",
            "text_init_la05": "text_init",
            "text_init_la035": "text_init",
            "text_init_la025": "text_init",
            "text_init_la025_gpu": "h2rec_gpu",
            "h2rec_select_balanced_gpu": "h2rec_gpu",
            "h2rec_select_overall_head_tail": "h2rec",
            "text_init_la025_select_balanced": "text_init_la025",
            "text_init_la025_select_balanced_gpu": "text_init_la025_gpu",
            "naive_sum_tuned_la025": "naive_sum_tuned",
            "naive_sum_tuned_la035": "naive_sum_tuned",
            "naive_sum_tuned_la025_h128": "naive_sum_tuned_la025",
        },
    ),
    "windows": (
        "Whole histories and the minimum epoch count (experiments/windows.yaml)",
        {"len3_windows": "len3_last_window", "len3_last_window": None, "min_epochs20": "min_epochs0", "min_epochs0": None},
    ),
}
LABELS = {
    "pop": "Popularity",
    "sasrec": "SASRec (HID)",
    "sasrec_h128": "SASRec, hidden 128",
    "sasrec_ssm": "SASRec, sampled softmax (256 negatives shared by the batch)",
    "sasrec_h128_ssm": "SASRec, hidden 128, sampled softmax (shared negatives)",
    "sasrec_published": "SASRec at the published Beauty configuration (width 256, 1 block, 256 negatives per position)",
    "sasrec_published_preln": "SASRec at the published Beauty configuration and block layout (pre-LN, ReLU)",
    "llminit_sasrec": "LLMInit-SASRec (HID table from the text PCA)",
    "llminit_sasrec_tuned": "LLMInit-SASRec, tuned on the dataset itself",
    "llm_esr": "LLM-ESR",
    "llm_esr_tuned": "LLM-ESR, tuned on the dataset itself",
    "gru4rec": "GRU4Rec (HID)",
    "gru4rec_sid": "GRU4Rec, SID only",
    "gru4rec_h2rec": "H2Rec on GRU4Rec",
    "bert4rec": "BERT4Rec (HID)",
    "bert4rec_sid": "BERT4Rec, SID only",
    "bert4rec_h2rec": "H2Rec on BERT4Rec",
    "h2rec_d32": "H2Rec, 2 x 32 (SASRec-64's scoring width)",
    "sid_sasrec": "SID-SASRec",
    "h2rec": "H2Rec",
    "text_init": "H2Rec, the method's initialisation (text-PCA HID, codebook SID)",
    "text_init_la05": "H2Rec, the method's initialisation, logit adjustment 0.5",
    "text_init_la035": "H2Rec, the method's initialisation, logit adjustment 0.35",
    "text_init_la025": "H2Rec, the method's initialisation, logit adjustment 0.25",
    "text_init_la025_tuned": "H2Rec from the text, logit adjustment 0.25, tuned on Scientific (the pipeline default)",
    "default_no_mask": "the pipeline default without L_mask",
    "pipeline_default": "the pipeline default (params.yaml `train`), rerun",
    "pipeline_default_coded": "the pipeline default, rerun with the softmax scored through the SID codes",
    "parallel_routing": "H2Rec, the method's parallel routing",
    "soft_mask": "H2Rec, the method's L_mask (soft targets on u_S)",
    "soft_mask_detached": "H2Rec, the method's L_mask, masked pass only",
    "cross_heads4": "H2Rec, 4 cross-attention heads",
    "matched_positions": "H2Rec, positions at the streams' scale",
    "faithful": "H2Rec as the method describes it (text start, parallel routing, soft L_mask, 4 cross heads)",
    "h2rec_select_balanced": "H2Rec, best epoch by head and tail validation NDCG@10 alike",
    "h2rec_select_overall_head_tail": "H2Rec, best epoch by overall, head and tail validation NDCG@10 alike",
    "text_init_la025_select_balanced": "H2Rec, the method's initialisation, logit adjustment 0.25, best epoch by head and tail alike",
    "no_code": "w/o L_code",
    "no_mask": "w/o L_mask",
    "no_gate": "w/o gate (mean)",
    "no_cross_attention": "w/o cross-attention",
    "naive_sum": "naive SID+HID sum",
    "naive_sum_tuned": "naive SID+HID sum, tuned on the dataset itself",
    "naive_sum_tuned_la025": "naive SID+HID sum, tuned on the dataset itself, logit adjustment 0.25",
    "naive_sum_tuned_la035": "naive SID+HID sum, tuned on the dataset itself, logit adjustment 0.35",
    "naive_sum_tuned_la025_h128": "naive SID+HID sum, tuned on the dataset itself, logit adjustment 0.25, hidden 128",
    "sid_only": "SID branch only",
    "hid_only": "HID branch only",
    "separate_backbone": "separate backbones",
    "cooccurrence": "+ PPMI positives",
}
HEADER = "<!-- generated by `h2rec report`, do not edit: rerun `h2rec report` (or `h2rec report --from-export`) -->"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--experiment", default="h2rec", help="MLflow experiment of the sweeps (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--from-export", action="store_true", help="rebuild everything from <out>/runs.csv alone, without MLflow")
    parser.add_argument(
        "--baselines",
        nargs="+",
        default=BASELINES,
        metavar="VARIANT",
        help="variants every model is compared with; absent ones are skipped (default: %(default)s)",
    )


def main(args: argparse.Namespace) -> int:
    export = args.out / EXPORT
    if not args.from_export:
        # The export keeps what earlier stores held (mlruns/ is not committed): MLflow's runs
        # replace the exported ones of the same dataset, variant and seed, the rest stay.
        runs = fetch_runs(args.experiment)
        if runs.empty and not export.is_file():
            raise DataError(
                f"no finished sweep runs with test metrics in experiment {args.experiment!r}, and no {export} to keep; "
                "run `python -m flows.sweep --grid experiments/main.yaml` first"
            )
        if export.is_file():
            runs = merge_export(read_export(export), runs, ["dataset", "variant", "seed"])
        write_export(runs, export)
        print(f"wrote {export} ({len(runs)} runs)")
        trials = fetch_trials(args.experiment)
        if (earlier := read_tuning(args.out / TUNING_EXPORT)) is not None:
            trials = merge_export(earlier, trials, ["dataset", "variant", "trial"])
        if len(trials):
            with atomic_path(args.out / TUNING_EXPORT) as tmp:
                trials.to_csv(tmp, index=False)
            print(f"wrote {args.out / TUNING_EXPORT} ({len(trials)} trials)")
    tuning = read_tuning(args.out / TUNING_EXPORT)
    # Both ways the outputs come from the export file, so they are the same either way.
    runs = read_export(export)
    summary = summarise(runs, args.baselines)
    with atomic_path(args.out / "summary.json") as tmp:
        tmp.write_text(summary_text(summary))
    for dataset in sorted(runs["dataset"].unique()):
        frame = runs[runs["dataset"] == dataset]
        for variant, n in mixed_configs(frame).items():
            log.warning("%s: `%s` pools seeds of %d configurations (column %s of %s)", dataset, variant, n, CONFIG, export)
        plot = plot_groups(frame, dataset, args.out / f"{dataset}_groups.png")
        mechanisms = plot_mechanisms(frame, dataset, args.out / f"{dataset}_mechanisms.png")
        link = f"\n![{dataset}: learned gate and top-10 lists]({mechanisms.name})\n" if mechanisms else ""
        trials = tuning[tuning["dataset"] == dataset] if tuning is not None else None
        curve = plot_tuning(trials, dataset, args.out / f"{dataset}_tuning.png") if trials is not None and len(trials) else None
        with atomic_path(args.out / f"{dataset}.md") as tmp:
            tmp.write_text(dataset_page(frame, dataset, args.baselines, plot) + link + tuning_section(trials, curve))
        print(f"wrote {args.out / f'{dataset}.md'}" + (f" and {plot.name}" if plot else ""))
    print(f"wrote {args.out / 'summary.json'} ({len(runs)} runs)")
    return 0


# -- runs: MLflow -> export file -------------------------------------------------------------
def fetch_runs(experiment: str) -> pd.DataFrame:
    """One row per finished sweep trial, the most recent per (dataset, variant, seed); none (an
    empty frame) when the store holds only tuning studies."""
    import mlflow

    from h2rec.tracking.run import tracking_uri

    uri = tracking_uri()
    # Reading must not create an empty store where none was.
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        raise DataError(
            f"no MLflow store at {uri}; run a sweep first (python -m flows.sweep --grid experiments/main.yaml) "
            "or use --from-export"
        )
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        raise DataError(f"no MLflow experiment {experiment!r} at {uri}; run a sweep first or pass --experiment")
    runs = mlflow.search_runs(
        experiment_ids=[found.experiment_id], filter_string="attributes.status = 'FINISHED'", output_format="list"
    )
    records = [r for r in (run_record(run) for run in runs) if r is not None]
    if not records:  # a store of tuning studies alone: its trials are still exported
        log.info("no finished sweep runs with test metrics in experiment %r at %s", experiment, uri)
        return pd.DataFrame(columns=ID_COLUMNS)
    frame = pd.DataFrame(records).sort_values("start_time")
    latest = frame.drop_duplicates(["dataset", "variant", "seed"], keep="last")
    if len(latest) < len(frame):
        log.info("%d older runs of the same dataset, variant and seed left out", len(frame) - len(latest))
    return latest.drop(columns="start_time")


def run_record(run) -> dict | None:
    """The export row of one MLflow run, or None if it is not a sweep trial with test metrics."""
    tags, metrics = run.data.tags, run.data.metrics
    if "variant" not in tags:
        return None
    kept = {k: v for k, v in metrics.items() if is_exported(k)}
    if not any(METRIC_KEY.match(k) for k in kept):
        log.info("run %s (%s) has no test metrics: left out", run.info.run_id, tags["variant"])
        return None
    try:
        seed = int(tags.get("seed", ""))
    except ValueError:
        log.info("run %s (%s) has no integer seed tag: left out", run.info.run_id, tags["variant"])
        return None
    return {
        "dataset": tags.get("dataset", "unknown"),
        "sweep": tags.get("sweep", ""),
        "variant": variant_of(tags),
        "model": tags.get("model", ""),
        "seed": seed,
        "run_id": run.info.run_id,
        CONFIG: tags.get(CONFIG, ""),
        "start_time": run.info.start_time,
        **kept,
        WALL: ((run.info.end_time or run.info.start_time) - run.info.start_time) / 1000,
    }


def is_exported(name: str) -> bool:
    return bool(METRIC_KEY.match(name) or GATE_KEY.match(name)) or name in (COLD_CASES, WALL, BEST_EPOCH)


WALL = "wall_s"  # the run's wall-clock seconds (training and evaluation)
BEST_EPOCH = "best_epoch"  # the training epoch whose checkpoint was evaluated


def trial_value(metrics: dict[str, float]) -> float:
    """A completed trial's study value: its best validation selection score (runs logged before
    train.selection existed have only NDCG@10, which that score then was)."""
    return metrics.get("best_valid/selection", metrics.get("best_valid/ndcg_10", np.nan))


def fetch_trials(experiment: str) -> pd.DataFrame:
    """One row per tuning trial of `h2rec tune` (runs tagged kind=trial), any final state."""
    import mlflow

    found = mlflow.get_experiment_by_name(experiment)
    runs = mlflow.search_runs(experiment_ids=[found.experiment_id], filter_string="tags.kind = 'trial'", output_format="list")
    client = mlflow.MlflowClient()
    rows = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        end = run.info.end_time or run.info.start_time
        rows.append(
            {
                "dataset": tags.get("dataset", ""),
                "variant": variant_of(tags) if "variant" in tags else "",
                "model": tags.get("model", ""),
                "trial": int(tags.get("trial", -1)),
                "state": tags.get("optuna_state", run.info.status),
                "value": trial_value(metrics) if tags.get("optuna_state") == "COMPLETE" else np.nan,
                "best_epoch": metrics.get("best_epoch", np.nan),
                "epochs": len(client.get_metric_history(run.info.run_id, "valid/ndcg_10")),
                "wall_s": (end - run.info.start_time) / 1000,
                "params": tags.get("trial_params", "{}"),
                "run_id": run.info.run_id,
            }
        )
    frame = pd.DataFrame(rows, columns=TUNING_COLUMNS)
    return frame.sort_values(["dataset", "variant", "trial"]).drop_duplicates(["dataset", "variant", "trial"], keep="last")


def merge_export(earlier: pd.DataFrame, fresh: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Rows of `earlier` whose key and run id `fresh` both lack, then all of `fresh`.

    The run id matters when a run was retagged (a variant renamed): its fresh row replaces
    the one exported under the old name instead of standing beside it.
    """
    if fresh.empty:
        return earlier
    seen = set(map(tuple, fresh[key].astype(str).to_numpy()))
    runs = set(fresh["run_id"].astype(str)) if "run_id" in fresh and "run_id" in earlier else set()
    kept = earlier[
        [
            tuple(r) not in seen and run not in runs
            for r, run in zip(
                earlier[key].astype(str).to_numpy(),
                earlier["run_id"].astype(str) if runs else [None] * len(earlier),
                strict=True,
            )
        ]
    ]
    return pd.concat([kept, fresh], ignore_index=True)


def read_tuning(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    frame = pd.read_csv(path, dtype={"dataset": str, "variant": str, "model": str, "state": str, "params": str, "run_id": str})
    return frame if not frame.empty else None


def write_export(frame: pd.DataFrame, path: Path) -> None:
    frame = frame.assign(**{CONFIG: frame[CONFIG].fillna("") if CONFIG in frame else ""})
    metrics = sorted((c for c in frame.columns if c not in TEXT_COLUMNS), key=column_key)
    frame = frame.sort_values(["dataset", "sweep", "variant", "seed"])[TEXT_COLUMNS + metrics]
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_export(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: export file not found; run `h2rec report` (without --from-export) to make it from MLflow")
    # Identifiers stay strings ("" for a missing tag); an empty metric cell is a metric the run did not log.
    frame = pd.read_csv(path, dtype={c: str for c in TEXT_COLUMNS if c != "seed"}, keep_default_na=False)
    missing = [c for c in ID_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: not an export of `h2rec report`: no column(s) {', '.join(missing)}")
    if frame.empty:
        raise DataError(f"{path}: no runs")
    for column in frame.columns:
        if column not in TEXT_COLUMNS:  # float() reads back exactly the value written
            frame[column] = frame[column].map(lambda v: np.nan if v == "" else float(v)).astype(float)
    frame["seed"] = frame["seed"].astype(int)
    if CONFIG not in frame:  # an export written before the column existed
        frame[CONFIG] = ""
    return frame


def mixed_configs(frame: pd.DataFrame) -> dict[str, int]:
    """Variants whose seeds come from more than one grid entry (distinct `config` fingerprints):
    a name reused for another configuration, whose seeds the tables would pool. `frame` is
    read_export's: its config column is text, "" where a run was not tagged."""
    tagged = frame[frame[CONFIG] != ""]
    counts = tagged.groupby("variant")[CONFIG].nunique()
    return {v: int(n) for v, n in counts.items() if n > 1}


def column_key(name: str) -> tuple:
    """Export and summary order: protocol, group, metric as listed above, then by name."""
    m = METRIC_KEY.match(name)
    if m:
        protocol, group, metric = m.groups()
        return (0, list(PROTOCOLS).index(protocol), order(group, GROUP_ORDER), order(metric, METRIC_ORDER))
    return (1, natural(name))


def order(name: str, known: list[str]) -> tuple:
    return (known.index(name), ()) if name in known else (len(known), natural(name))


def natural(name: str) -> tuple:
    """bucket2 before bucket10."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


# -- statistics ------------------------------------------------------------------------------
def variants_of(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["variant"].unique(), key=lambda v: order(v, MODEL_ORDER))


def values(frame: pd.DataFrame, variant: str, column: str) -> np.ndarray:
    """The column's values over the variant's seeds (runs that did not log it left out)."""
    if column not in frame.columns:
        return np.array([])
    return frame.loc[frame["variant"] == variant, column].dropna().to_numpy(dtype=float)


def mean_std(x: np.ndarray) -> tuple[float, float | None]:
    return float(np.mean(x)), float(np.std(x, ddof=1)) if len(x) > 1 else None


def rel_gain(x: np.ndarray, baseline: np.ndarray) -> float | None:
    base = float(np.mean(baseline))
    return float(np.mean(x)) / base - 1 if base != 0 else None


def welch_p(x: np.ndarray, baseline: np.ndarray) -> float | None:
    if len(x) < 2 or len(baseline) < 2:
        return None
    from scipy.stats import ttest_ind

    p = float(ttest_ind(x, baseline, equal_var=False).pvalue)
    return p if math.isfinite(p) else None  # nan when both sides have no spread


def same_device(a: str, b: str) -> bool:
    return a.endswith(GPU) == b.endswith(GPU)


def compared_with(baseline: str, variants: list[str]) -> list[str]:
    """The variants a baseline is compared with: all others on its device, or a backbone
    baseline's own family on its device (a GPU/CPU difference is never shown as a model's gain)."""
    same = [v for v in variants if v != baseline and same_device(v, baseline)]
    if baseline in BACKBONE_BASELINES:
        family = baseline.removesuffix(GPU)
        return [v for v in same if v.startswith(f"{family}_")]
    return same


def reference_for(variant: str) -> str | None:
    """What a side-sweep or ablation variant is compared with by default: H2Rec on its device."""
    ref = REFERENCE + (GPU if variant.endswith(GPU) else "")
    return None if variant == ref else ref


def summarise(runs: pd.DataFrame, baselines: list[str]) -> dict[str, list[dict]]:
    rows, comparisons = [], []
    keys = sorted((c for c in runs.columns if METRIC_KEY.match(c)), key=column_key)
    for dataset in sorted(runs["dataset"].unique()):
        frame = runs[runs["dataset"] == dataset]
        variants = variants_of(frame)
        for column in keys:
            protocol, group, metric = METRIC_KEY.match(column).groups()
            grouping = "paper" if group.startswith(PAPER) else GROUPING
            group = group.removeprefix(PAPER)
            where = {"dataset": dataset, "protocol": protocol, "grouping": grouping, "group": group, "metric": metric}
            for variant in variants:
                x = values(frame, variant, column)
                if len(x):
                    mean, std = mean_std(x)
                    rows.append({**where, "model": variant, "mean": mean, "std": std, "seeds": len(x)})
            for baseline in (b for b in baselines if b in variants):
                base = values(frame, baseline, column)
                for variant in compared_with(baseline, variants):
                    x = values(frame, variant, column)
                    if len(x) and len(base):
                        comparisons.append(
                            {
                                **where,
                                "model": variant,
                                "baseline": baseline,
                                "rel_gain": rel_gain(x, base),
                                "p_value": welch_p(x, base),
                            }
                        )
    return {"rows": rows, "comparisons": comparisons}


def summary_text(summary: dict[str, list[dict]]) -> str:
    """summary.json: one row or comparison a line (tens of thousands of them), keys in the
    documented order, figures to 6 significant digits (a mean over 5 seeds holds fewer): about
    30% smaller than indented JSON at full precision, and a new run's diff stays readable."""
    sections = []
    for key, records in summary.items():
        lines = ",\n".join(json.dumps({k: significant(v) for k, v in r.items()}, allow_nan=False) for r in records)
        sections.append(f"{json.dumps(key)}: [\n{lines}\n]")
    return "{\n" + ",\n".join(sections) + "\n}\n"


def significant(value: object, digits: int = 6) -> object:
    """A float to `digits` significant digits; anything else (counts, names) as it is."""
    return float(f"{value:.{digits}g}") if isinstance(value, float) else value


# -- tables ----------------------------------------------------------------------------------
def label(variant: str) -> str:
    base = variant.removesuffix(GPU)
    where = ", trained on a GPU" if variant.endswith(GPU) and base in LABELS else ""
    return f"`{variant}`: {LABELS[base]}{where}" if base in LABELS else f"`{variant}`"


def plot_label(variant: str) -> str:
    """The name a plot shows: the variant's label, marked when its runs were trained on a GPU."""
    base = variant.removesuffix(GPU)
    if base not in LABELS:
        return variant
    return LABELS[base] + (" (GPU)" if variant.endswith(GPU) else "")


def variant_of(tags: dict[str, str]) -> str:
    """The run's variant as the report counts it: `<variant>_gpu` for a run trained on a GPU."""
    return tags["variant"] + (GPU if tags.get("device") == "cuda" else "")


def cell(x: np.ndarray, digits: int = 4) -> str:
    if not len(x):
        return ""
    mean, std = mean_std(x)
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def count_cell(x: np.ndarray) -> str:
    return f"{np.mean(x):.0f}" if len(x) else ""


def gain_cell(x: np.ndarray, baseline: np.ndarray) -> str:
    if not (len(x) and len(baseline)):
        return ""
    gain, p = rel_gain(x, baseline), welch_p(x, baseline)
    text = "n/a" if gain is None else f"{100 * gain:+.1f}%"
    return text + ("" if p is None else f" (p={p:.2g})")


def table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in body)]


def split_variants(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(main-table variants, ablation variants): the ablation sweep's variants other than the reference."""
    ablation = set(frame.loc[frame["sweep"] == ABLATION_SWEEP, "variant"]) - {REFERENCE}
    side = set(frame.loc[frame["sweep"].isin(SIDE_SWEEPS), "variant"]) - {REFERENCE}
    variants = variants_of(frame)
    return [v for v in variants if v not in side], [v for v in variants if v in ablation]


def side_tables(frame: pd.DataFrame) -> list[str]:
    """One table per side sweep other than the ablation (which has `ablation_table`)."""
    compared = [k for k in (f"full/{g}/ndcg_10" for g in ("overall", "head", "tail")) if k in frame.columns]
    keys = compared + [k for k in ("sampled100/overall/ndcg_10", BEST_EPOCH, WALL) if k in frame.columns]
    show = lambda x, k: (
        cell(x) if "/" in k else (f"{x.mean():.1f}" + (f" ± {x.std(ddof=1):.1f}" if len(x) > 1 else "") if len(x) else "")
    )  # noqa: E731
    out = []
    for sweep, (title, refs) in SIDE_SWEEPS.items():
        mine = [v for v in variants_of(frame) if v in set(frame.loc[frame["sweep"] == sweep, "variant"])]
        if sweep == ABLATION_SWEEP or not mine or not compared:
            continue
        body = []
        for v in mine:
            ref = refs.get(v, reference_for(v))
            ref = ref if ref in set(frame["variant"]) else None
            gains = [gain_cell(values(frame, v, k), values(frame, ref, k)) if ref else "" for k in compared]
            seeds = str(len(values(frame, v, keys[0])))
            body.append([label(v), *(show(values(frame, v, k), k) for k in keys), f"`{ref}`" if ref else "", *gains, seeds])
        names = {BEST_EPOCH: "best epoch", WALL: "run seconds"}
        header = ["variant", *(names.get(k, k.replace("/", " ").replace("ndcg_10", "NDCG@10")) for k in keys), "against"]
        header += [f"Δ {k.split('/')[1]}" for k in compared] + ["seeds"]
        out += [f"## {title}", "", "Test; Δ = relative change against the variant in `against`, Welch p-value over seeds.", ""]
        out += [*table(header, body), ""]
    return out


def main_tables(
    frame: pd.DataFrame, protocol: str, variants: list[str], baselines: list[str], grouping: str = GROUPING
) -> list[str]:
    prefix = "" if grouping == GROUPING else PAPER
    groups = TABLE_GROUPS if grouping == GROUPING else [f"{PAPER}{g}" for g in TABLE_GROUPS[1:]]
    columns = [(m, g) for m in ("ndcg_10", "hr_10") for g in groups if f"{protocol}/{g}/{m}" in frame.columns]
    if not columns:
        return []
    names = [f"{'NDCG' if m.startswith('ndcg') else 'HR'}@10 {g.removeprefix(prefix)}" for m, g in columns]
    col = lambda v, m, g: values(frame, v, f"{protocol}/{g}/{m}")  # noqa: E731
    body = [[label(v), *(cell(col(v, m, g)) for m, g in columns), str(len(col(v, "ndcg_10", columns[0][1])))] for v in variants]
    title = f"## Test, {PROTOCOLS[protocol]}" + ("" if grouping == GROUPING else f", the paper's grouping ({PAPER_GROUPING})")
    out = [title, "", *table(["model", *names, "seeds"], body), ""]
    for b in (b for b in baselines if b in variants):
        body = [[label(v), *(gain_cell(col(v, m, g), col(b, m, g)) for m, g in columns)] for v in compared_with(b, variants)]
        if body:
            out += [f"Relative gain over {label(b)} (Welch p-value over seeds):", "", *table(["model", *names], body), ""]
    return out


def cold_table(frame: pd.DataFrame, variants: list[str]) -> list[str]:
    columns = [c for c in ("full/cold/ndcg_10", "full/cold/hr_10", "full/cold/hr_20") if c in frame.columns]
    if not columns:
        return []
    body = [
        [
            label(v),
            *(cell(values(frame, v, c)) for c in columns),
            count_cell(values(frame, v, COLD_CASES)),
            str(len(values(frame, v, columns[0]))),
        ]
        for v in variants
        if len(values(frame, v, columns[0]))
    ]
    names = [c.split("/")[-1].replace("ndcg_", "NDCG@").replace("hr_", "HR@") for c in columns]
    return [
        "## Cold targets (test items never seen in training, full ranking)",
        "",
        *table(["model", *names, "cases", "seeds"], body),
        "",
    ]


def gate_table(frame: pd.DataFrame) -> list[str]:
    keys = [c for c in frame.columns if GATE_KEY.match(c)]
    if not keys:
        return []
    levels = sorted({int(GATE_KEY.match(c).group(2)) for c in keys})
    body = []
    for v in variants_of(frame):
        for users in gate_groups(keys):
            cols = [values(frame, v, f"gate/{users}/level_{l}") for l in levels]
            if any(len(c) for c in cols):
                body.append([label(v), users, *(f"{c.mean():.3f}" if len(c) else "" for c in cols), str(max(map(len, cols)))])
    return [
        "## Learned gate (mean weight per SID level over test users, coarse level first)",
        "",
        "Users by history length (all, short, long) and by the popularity of the item they pick next",
        "(head, tail; bucket_0 = least popular).",
        "",
        *table(["model", "users", *(f"level {l}" for l in levels), "seeds"], body),
        "",
    ]


def gate_groups(keys: list[str]) -> list[str]:
    """The user groups of the gate keys, in reading order: all, short, long, head, tail, buckets."""
    present = {GATE_KEY.match(k).group(1) for k in keys}
    order = ["all", "short", "long", "head", "tail"]
    return [g for g in order if g in present] + sorted(present - set(order), key=natural)


def diversity_table(frame: pd.DataFrame, variants: list[str]) -> list[str]:
    columns = sorted((c for c in frame.columns if re.match(r"^full/overall/(tail_share|coverage)_\d+$", c)), key=natural)
    if not columns:
        return []
    body = [[label(v), *(cell(values(frame, v, c)) for c in columns)] for v in variants]
    return [
        "## Recommendation lists (full ranking): tail share and catalogue coverage of the top-k",
        "",
        *table(["model", *(c.split("/")[-1] for c in columns)], body),
        "",
    ]


def ablation_table(frame: pd.DataFrame, ablations: list[str]) -> list[str]:
    keys = [k for k in (f"full/{g}/ndcg_10" for g in ("overall", "head", "tail")) if k in frame.columns]
    if not ablations or REFERENCE not in set(frame["variant"]) or not keys:
        return []
    groups = [k.split("/")[1] for k in keys]
    body = []
    for v in [REFERENCE, *ablations]:
        ref = reference_for(v)
        gains = ["" if ref is None else gain_cell(values(frame, v, k), values(frame, ref, k)) for k in keys]
        body.append([label(v), *(cell(values(frame, v, k)) for k in keys), *gains, str(len(values(frame, v, keys[0])))])
    header = ["variant", *(f"NDCG@10 {g}" for g in groups), *(f"Δ {g} vs H2Rec" for g in groups), "seeds"]
    return [
        f"## Ablations (test, full ranking; change relative to {label(REFERENCE)}, Welch p-value over seeds)",
        "",
        *table(header, body),
        "",
    ]


def dataset_page(frame: pd.DataFrame, dataset: str, baselines: list[str], plot: Path | None) -> str:
    main_variants, ablations = split_variants(frame)
    sweeps = ", ".join(sorted(s for s in frame["sweep"].unique() if s)) or "-"
    lines = [
        HEADER,
        "",
        f"# Results: {dataset}",
        "",
        f"Generated by `h2rec report`, do not edit: made from `{EXPORT}` ({len(frame)} runs; sweeps: {sweeps};",
        "their MLflow run ids are in that file). Test split, leave-one-out; each run's model is the epoch with the best",
        "validation NDCG@10 (full ranking). Head = the most popular items by training interactions",
        "(`preprocess.head_share`), tail = the rest; short / long = users by training history length;",
        "a test case belongs to the group of its target (head / tail) or of its user (short / long).",
        "Mean ± sample standard deviation over seeds; relative gain = mean / mean of the baseline - 1,",
        "with the p-value of Welch's t-test over seeds (none under 2 seeds on a side).",
        "",
    ]
    if WALL in frame.columns and frame[WALL].notna().any():
        hours = frame.groupby("variant")[WALL].sum() / 3600
        lines += [
            f"Cost of these runs (training + evaluation, wall clock; a run on a Dask worker has its one thread, on a machine shared with the other runs): {hours.sum():.2f} h in all; "
            + ", ".join(f"`{v}` {h:.2f} h" for v, h in hours.items() if h > 0)
            + ".",
            "",
        ]
    mixed = mixed_configs(frame)
    if mixed:
        lines += [
            "**Warning**: these variants pool seeds of different configurations (distinct `config` fingerprints in "
            f"`{EXPORT}`): " + ", ".join(f"`{v}` ({n})" for v, n in mixed.items()) + ". Rename one grid entry and rerun it.",
            "",
        ]
    for protocol in PROTOCOLS:
        lines += main_tables(frame, protocol, main_variants, baselines)
    for protocol in PROTOCOLS:
        lines += main_tables(frame, protocol, main_variants, baselines, grouping="paper")
    lines += cold_table(frame, main_variants) + gate_table(frame) + diversity_table(frame, main_variants)
    lines += ablation_table(frame, ablations) + side_tables(frame)
    if plot is not None:
        lines += [f"![{dataset}: NDCG@10 by popularity group]({plot.name})", ""]
    return "\n".join(lines)


def tuning_section(trials: pd.DataFrame | None, curve: Path | None) -> str:
    """What each variant's study searched and bought: trials, best value, hours, best settings."""
    if trials is None or not len(trials):
        return ""
    lines = [
        "## Tuning (`h2rec tune`, validation NDCG@10, full ranking, weighted by the variant's `train.selection` if it sets one)",
        "",
        f"From `{TUNING_EXPORT}`. Every variant is searched in the same space (params `tune.space`) with the same",
        "number of trials; pruned trials stopped below the median of earlier trials at the same epoch. Hours are the",
        "trials' wall-clock time (one Dask worker thread each, on a shared machine); the best settings are the variant's override file",
        "(`experiments/tuned/<dataset>/<variant>.yaml`).",
        "",
    ]
    body = []
    for variant in sorted(trials["variant"].unique(), key=lambda v: order(v, MODEL_ORDER)):
        t = trials[trials["variant"] == variant]
        done = t[t["state"] == "COMPLETE"]
        best = done.loc[done["value"].idxmax()] if len(done) else None
        counts = "/".join(str(int((t["state"] == s).sum())) for s in ("COMPLETE", "PRUNED", "FAIL"))
        body.append(
            [
                label(variant),
                str(len(t)),
                counts,
                f"{done['value'].max():.4f}" if best is not None else "-",
                str(int(best["trial"])) if best is not None else "-",
                f"{t['wall_s'].sum() / 3600:.2f}",
                f"`{best['params']}`" if best is not None else "-",
            ]
        )
    lines += table(
        ["model", "trials", "complete/pruned/failed", "best valid score", "best trial", "hours", "best settings"], body
    ) + [""]
    if curve is not None:
        lines += [f"![tuning: best validation NDCG@10 so far, by trial]({curve.name})", ""]
    return "\n".join(lines)


def plot_tuning(trials: pd.DataFrame, dataset: str, path: Path) -> Path | None:
    """The best-trial curve of each study: best validation NDCG@10 so far against the trial number."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    for variant in sorted(trials["variant"].unique(), key=lambda v: order(v, MODEL_ORDER)):
        t = trials[trials["variant"] == variant].sort_values("trial")
        best = t["value"].where(t["state"] == "COMPLETE").cummax()
        if best.notna().any():
            ax.step(t["trial"], best, where="post", label=plot_label(variant))
    ax.set_xlabel("trial")
    ax.set_ylabel("best validation NDCG@10 so far")
    ax.set_title(f"{dataset}: what the tuner's trials bought")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


# -- plot ------------------------------------------------------------------------------------
def plot_mechanisms(frame: pd.DataFrame, dataset: str, path: Path) -> Path | None:
    """Three panels: the learned gate per SID level by user history length, the same by target
    popularity (one colour per level, one line style per gated model), and the tail share and
    coverage of every model's top-10 lists. None when neither was logged."""
    gate_keys = [c for c in frame.columns if GATE_KEY.match(c)]
    variants = split_variants(frame)[0]
    lists = [c for c in ("full/overall/tail_share_10", "full/overall/coverage_10") if c in frame.columns]
    if not variants or not (gate_keys or lists):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    names = [wrapped(plot_label(v), 46) for v in variants]
    lines = max(n.count("\n") + 1 for n in names)  # rows are evenly spaced: each must hold the longest label
    fig, (by_length, by_popularity, right) = plt.subplots(
        1,
        3,
        figsize=(15, max(4.8, 1.2 + 0.17 * lines * len(variants))),
        gridspec_kw={"width_ratios": [1.2, 2.2, 2.6]},
        layout="constrained",
    )
    groups = gate_groups(gate_keys)
    panels = (
        (by_length, [g for g in groups if g in ("all", "short", "long")], "gate by user history length"),
        (by_popularity, [g for g in groups if g.startswith("bucket_")], "gate by target popularity (bucket_0 = least)"),
    )
    levels = sorted({int(GATE_KEY.match(c).group(2)) for c in gate_keys})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (8, 3))]
    gated = [v for v in variants if any(len(values(frame, v, f"gate/all/level_{l}")) for l in levels)]
    for ax, xs, title in panels:
        for k, v in enumerate(gated):
            for l in levels:
                ys = [m.mean() if len(m := values(frame, v, f"gate/{g}/level_{l}")) else np.nan for g in xs]
                ax.plot(xs, ys, ls=styles[k % len(styles)], marker="o", color=colours[l % len(colours)])
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
    by_length.set_ylabel("mean gate weight")
    if gated:
        # Colour says the level, line style the model: one legend entry each, not one per pair.
        handles = [Line2D([], [], color=colours[l % len(colours)], marker="o", label=f"level {l}") for l in levels]
        if len(gated) > 1:
            handles += [Line2D([], [], color="black", ls=styles[k % len(styles)], label=v) for k, v in enumerate(gated)]
        by_popularity.legend(
            handles=handles,
            fontsize=7,
            title="level 0 = coarsest",
            title_fontsize=7,
            ncol=3,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.07),
        )  # below the axes: inside, it would hide lines
    else:
        by_length.set_axis_off()
        by_popularity.set_axis_off()
    height = 0.8 / max(1, len(lists))
    rows = np.arange(len(variants))[::-1]  # the first model on top
    for i, c in enumerate(lists):
        stats = [mean_std(x) if len(x := values(frame, v, c)) else (np.nan, None) for v in variants]
        right.barh(
            rows + (len(lists) - 1 - 2 * i) * height / 2,
            [m for m, _ in stats],
            height,
            xerr=[s or 0 for _, s in stats],
            label=c.split("/")[-1],
            capsize=2,
        )
    right.set_yticks(rows, names, fontsize=8)
    right.set_xlim(0, 1)
    right.set_title("top-10 lists (full ranking)", fontsize=10)
    if lists:
        right.legend(fontsize=8, ncol=len(lists), loc="upper center", bbox_to_anchor=(0.5, -0.06))
    fig.suptitle(f"{dataset}: what the mechanisms do; mean over seeds")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def wrapped(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width))


def plot_groups(frame: pd.DataFrame, dataset: str, path: Path) -> Path | None:
    """Bars of full-ranking NDCG@10 per popularity group (bucket0 = least popular), one per model."""
    buckets = sorted({c.split("/")[1] for c in frame.columns if re.match(r"^full/bucket\d+/ndcg_10$", c)}, key=natural)
    groups = [g for g in ("overall", "head", "tail") if f"full/{g}/ndcg_10" in frame.columns] + buckets
    variants = split_variants(frame)[0]
    if not groups or not variants:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.4 + 0.22 * ((len(variants) + 1) // 2)))
    width = 0.8 / len(variants)
    palette = plt.get_cmap("tab10" if len(variants) <= 10 else "tab20").colors  # no two models share a colour
    for i, v in enumerate(variants):
        stats = [mean_std(x) if len(x := values(frame, v, f"full/{g}/ndcg_10")) else (np.nan, None) for g in groups]
        ax.bar(
            np.arange(len(groups)) + i * width,
            [m for m, _ in stats],
            width,
            yerr=[s or 0 for _, s in stats],
            label=plot_label(v),
            color=palette[i % len(palette)],
            capsize=2,
        )
    ax.set_xticks(np.arange(len(groups)) + width * (len(variants) - 1) / 2, groups)
    ax.set_ylabel("test NDCG@10 (full ranking)")
    ax.set_title(f"{dataset}: by target popularity (bucket0 = least popular); mean ± std over seeds")
    ax.legend(fontsize=8, ncol=min(2, len(variants)), loc="upper center", bbox_to_anchor=(0.5, -0.1))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight")  # the legend below the axes stays whole
    plt.close(fig)
    return path
