"""`h2rec report` on a real MLflow store (SQLite in a temporary folder) holding sweep-like runs."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.entities import Metric
from scipy.stats import ttest_ind

from h2rec.cli import main as cli
from h2rec.commands.report import LABELS, plot_label, summary_text

SEEDS = [0, 1, 2]
VARIANTS = {"sasrec": 0.070, "h2rec": 0.078}  # variant -> typical full/overall/ndcg_10
GROUPS = (
    ["overall", "head", "tail", "short", "long"]
    + [f"bucket{b}" for b in range(5)]
    + ["paper_head", "paper_tail", "paper_short", "paper_long"]
)
METRICS = ["hr_5", "ndcg_5", "hr_10", "ndcg_10", "hr_20", "ndcg_20"]


def eval_metrics(level: float, rng: np.random.Generator) -> dict[str, float]:
    """What the evaluate stage logs, with seed-to-seed noise."""
    out = {}
    for protocol, scale in (("full", 1.0), ("sampled100", 4.0)):
        for g, group in enumerate(GROUPS):
            for m, metric in enumerate(METRICS):
                out[f"{protocol}/{group}/{metric}"] = scale * level * (1 + 0.1 * g + 0.2 * m) * (1 + 0.02 * rng.standard_normal())
    out["full/overall/tail_share_10"] = 0.3 + 0.01 * rng.standard_normal()
    out["full/cold/ndcg_10"] = 0.01 * rng.random()
    out["cold_cases"] = 73.0
    return out


def log_run(client, exp_id: str, tags: dict, metrics: dict, start: int, status: str = "FINISHED") -> str:
    run = client.create_run(exp_id, start_time=start, tags=tags)
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, start, 0) for k, v in metrics.items()])
    client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def make_store(root: Path) -> dict[tuple[str, int], dict[str, float]]:
    """2 variants x 3 seeds of one sweep, plus runs the report must leave out; returns what counts."""
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    exp_id = client.create_experiment("h2rec", artifact_location=(root / "artifacts").as_uri())
    rng = np.random.default_rng(7)
    start = 1_700_000_000_000
    parent = log_run(client, exp_id, {"mlflow.runName": "sweep", "kind": "pipeline", "sweep": "main"}, {}, start)
    # an older run of h2rec seed 0 (the newer one counts) and a failed trial
    log_run(
        client,
        exp_id,
        {"variant": "h2rec", "sweep": "main", "seed": "0", "dataset": "scientific"},
        eval_metrics(0.5, rng),
        start + 1,
    )
    log_run(
        client,
        exp_id,
        {"variant": "sasrec", "sweep": "main", "seed": "3", "dataset": "scientific"},
        eval_metrics(0.5, rng),
        start + 2,
        status="FAILED",
    )
    logged = {}
    for seed in SEEDS:
        for i, (variant, level) in enumerate(VARIANTS.items()):
            metrics = eval_metrics(level, rng)
            if variant == "h2rec":
                metrics.update(
                    {
                        f"gate/{u}/level_{l}": w
                        for u in ("all", "short", "long", "tail", "bucket_0")
                        for l, w in enumerate((0.5, 0.3, 0.2))
                    }
                )
            tags = {
                "mlflow.parentRunId": parent,
                "sweep": "main",
                "variant": variant,
                "model": variant,
                "seed": str(seed),
                "dataset": "scientific",
                "stage": f"{variant}-s{seed}",
            }
            log_run(client, exp_id, tags, metrics, start + 10 + 2 * seed + i)
            logged[(variant, seed)] = metrics
    return logged


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return make_store(tmp_path)


def test_report_summarises_the_runs(store, tmp_path):
    assert cli(["report"]) == 0
    out = tmp_path / "docs" / "results"
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"rows", "comparisons"}
    assert all(
        set(r) == {"dataset", "protocol", "grouping", "group", "metric", "model", "mean", "std", "seeds"} for r in summary["rows"]
    )
    assert all(
        set(c) == {"dataset", "protocol", "grouping", "group", "metric", "model", "baseline", "rel_gain", "p_value"}
        for c in summary["comparisons"]
    )
    assert {r["protocol"] for r in summary["rows"]} == {"full", "sampled100"}
    assert {r["grouping"] for r in summary["rows"]} == {"ours", "paper"}
    paper = {r["group"] for r in summary["rows"] if r["grouping"] == "paper"}
    assert paper == {"head", "tail", "short", "long"}  # the evaluator's paper_ prefix is the grouping
    assert {r["model"] for r in summary["rows"]} == {"sasrec", "h2rec"}

    h2rec = np.array([store[("h2rec", s)]["full/tail/ndcg_10"] for s in SEEDS])
    sasrec = np.array([store[("sasrec", s)]["full/tail/ndcg_10"] for s in SEEDS])
    row = next(
        r
        for r in summary["rows"]
        if (r["model"], r["protocol"], r["grouping"], r["group"], r["metric"]) == ("h2rec", "full", "ours", "tail", "ndcg_10")
    )
    assert row["seeds"] == 3 and row["dataset"] == "scientific"
    assert row["mean"] == pytest.approx(h2rec.mean(), rel=1e-5)  # 6 significant digits
    assert row["std"] == pytest.approx(h2rec.std(ddof=1), rel=1e-5)

    comparisons = [
        c
        for c in summary["comparisons"]
        if (c["protocol"], c["grouping"], c["group"], c["metric"]) == ("full", "ours", "tail", "ndcg_10")
    ]
    assert [(c["model"], c["baseline"]) for c in comparisons] == [("h2rec", "sasrec")]
    assert comparisons[0]["rel_gain"] == pytest.approx(h2rec.mean() / sasrec.mean() - 1, rel=1e-5)
    assert comparisons[0]["p_value"] == pytest.approx(ttest_ind(h2rec, sasrec, equal_var=False).pvalue, rel=1e-5)

    export = (out / "runs.csv").read_text().splitlines()
    assert export[0].startswith("dataset,sweep,variant,model,seed,run_id,config,full/overall/hr_5,")
    assert len(export) == 1 + 6  # the older, the failed and the parent run left out
    page = (out / "scientific.md").read_text()
    assert "generated by `h2rec report`, do not edit" in page.splitlines()[0]
    for title in ("## Test, full ranking", "## Test, sampled", "the paper's grouping", "## Cold targets", "## Learned gate"):
        assert title in page
    assert "## Ablations" not in page  # no ablation sweep ran
    assert (out / "scientific_groups.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "scientific_mechanisms.png").read_bytes()[:4] == b"\x89PNG"
    assert "| `h2rec`: H2Rec | tail | 0.500 | 0.300 | 0.200 | 3 |" in page and "| `h2rec`: H2Rec | bucket_0 |" in page
    assert "(scientific_mechanisms.png)" in page


def test_the_export_alone_rebuilds_the_same_summary(store, tmp_path):
    assert cli(["report"]) == 0
    out = tmp_path / "docs" / "results"
    first = (out / "summary.json").read_text()
    (tmp_path / "mlflow.db").unlink()
    (out / "summary.json").unlink()
    assert cli(["report", "--from-export"]) == 0
    assert (out / "summary.json").read_text() == first
    assert cli(["report"]) == 2  # and without the export, MLflow is needed


def write_export(project, rows: list[str]) -> None:
    """docs/results/runs.csv of `project` from CSV lines (header first), as `h2rec report` writes it."""
    (project / "docs" / "results").mkdir(parents=True)
    (project / "docs" / "results" / "runs.csv").write_text("\n".join(rows) + "\n")


def test_ablation_table_when_the_ablation_sweep_ran(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = ["dataset,sweep,variant,model,seed,run_id,full/overall/ndcg_10,full/tail/ndcg_10"]
    for seed in SEEDS:
        rows += [
            f"beauty,ablation,h2rec,h2rec,{seed},a{seed},0.05{seed},0.02{seed}",
            f"beauty,ablation,no_gate,h2rec,{seed},b{seed},0.04{seed},",
        ]
    write_export(tmp_path, rows)
    assert cli(["report", "--from-export", "--baselines", "sasrec", "h2rec"]) == 0
    page = (tmp_path / "docs" / "results" / "beauty.md").read_text()
    ablation = page.split("## Ablations")[1]
    assert "`no_gate`: w/o gate (mean)" in ablation and "-19.6%" in ablation  # 0.041 / 0.051 - 1
    summary = json.loads((tmp_path / "docs" / "results" / "summary.json").read_text())
    tail = [r for r in summary["rows"] if r["group"] == "tail"]
    assert [r["model"] for r in tail] == ["h2rec"]  # no_gate did not log it


def test_side_sweeps_get_their_own_table_against_their_references(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = ["dataset,sweep,variant,model,seed,run_id,full/overall/ndcg_10,best_epoch"]
    for seed in SEEDS:
        rows += [
            f"scientific,windows,len3_last_window,sasrec,{seed},a{seed},0.05{seed},1{seed}",
            f"scientific,windows,len3_windows,sasrec,{seed},b{seed},0.06{seed},2{seed}",
            f"scientific,main,sasrec,sasrec,{seed},c{seed},0.07{seed},3{seed}",
        ]
    write_export(tmp_path, rows)
    assert cli(["report", "--from-export", "--baselines", "sasrec"]) == 0
    page = (tmp_path / "docs" / "results" / "scientific.md").read_text()
    main, side = page.split("## Whole histories and the minimum epoch count")
    assert "len3" not in main.split("## Test, sampled")[0]  # not among the main table's models
    row = next(line for line in side.splitlines() if line.startswith("| `len3_windows`"))
    assert "`len3_last_window`" in row and "+19.6%" in row  # 0.061 / 0.051 - 1
    assert "| 21.0 ± 1.0 |" in row  # best epoch kept from the export


def test_no_runs_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert cli(["report"]) == 2
    assert "no MLflow store" in capsys.readouterr().err
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp_id = mlflow.create_experiment("h2rec", artifact_location=(tmp_path / "artifacts").as_uri())
    log_run(mlflow.MlflowClient(), exp_id, {"mlflow.runName": "sweep"}, {}, 1)
    assert cli(["report"]) == 2
    err = capsys.readouterr().err
    assert "h2rec report: error: no finished sweep runs" in err and "Traceback" not in err
    assert cli(["report", "--from-export"]) == 2
    assert "runs.csv: export file not found" in capsys.readouterr().err


def test_tuning_trials_are_exported_and_tabled(store, tmp_path):
    client = mlflow.MlflowClient()
    exp_id = client.get_experiment_by_name("h2rec").experiment_id
    start = 1_700_100_000_000
    study = log_run(client, exp_id, {"kind": "study", "sweep": "tune", "variant": "sasrec", "dataset": "scientific"}, {}, start)
    trials = [("COMPLETE", 0.081), ("PRUNED", None), ("COMPLETE", 0.086), ("FAIL", None)]
    for n, (state, value) in enumerate(trials):
        tags = {
            "kind": "trial",
            "sweep": "tune",
            "variant": "sasrec",
            "model": "sasrec",
            "dataset": "scientific",
            "trial": str(n),
            "optuna_state": state,
            "trial_params": json.dumps({"lr": 0.001 * (n + 1)}),
            "mlflow.parentRunId": study,
        }
        metrics = {"best_valid/ndcg_10": value, "best_epoch": 9.0} if value else {}
        run = log_run(client, exp_id, tags, metrics, start + n)
        for epoch in range(1, 4):
            client.log_metric(run, "valid/ndcg_10", 0.05 + 0.01 * epoch, step=epoch)
    assert cli(["report"]) == 0
    out = tmp_path / "docs" / "results"
    import pandas as pd

    table = pd.read_csv(out / "tuning.csv")
    assert table["trial"].tolist() == [0, 1, 2, 3] and table["state"].tolist() == ["COMPLETE", "PRUNED", "COMPLETE", "FAIL"]
    assert table["value"].tolist()[::2] == [0.081, 0.086] and table["value"].isna().tolist() == [False, True, False, True]
    assert table["epochs"].tolist() == [3, 3, 3, 3]
    page = (out / "scientific.md").read_text()
    assert "## Tuning" in page and "| `sasrec`: SASRec (HID) | 4 | 2/1/1 | 0.0860 | 2 |" in page
    assert '{"lr": 0.003}' in page  # the best trial's settings
    assert (out / "scientific_tuning.png").read_bytes()[:4] == b"\x89PNG"
    assert len(pd.read_csv(out / "runs.csv")) == 6  # trials have no test metrics: not seed runs
    first = page
    (tmp_path / "mlflow.db").unlink()
    assert cli(["report", "--from-export"]) == 0
    assert (out / "scientific.md").read_text() == first


def test_runs_exported_from_another_store_are_kept(store, tmp_path):
    import pandas as pd

    assert cli(["report"]) == 0
    out = tmp_path / "docs" / "results"
    export = pd.read_csv(out / "runs.csv")
    elsewhere = export[export["variant"] == "sasrec"].assign(dataset="beauty", run_id=lambda f: "other-" + f["run_id"])
    pd.concat([export, elsewhere]).to_csv(out / "runs.csv", index=False)  # rows of a store this machine lacks
    assert cli(["report"]) == 0
    merged = pd.read_csv(out / "runs.csv")
    assert len(merged) == len(export) + len(elsewhere)
    assert sorted(merged[merged["dataset"] == "beauty"]["run_id"]) == sorted(elsewhere["run_id"])
    assert (out / "beauty.md").is_file()


def test_a_store_of_tuning_studies_alone_adds_its_trials_to_the_export(store, tmp_path, monkeypatch):
    import pandas as pd

    assert cli(["report"]) == 0
    out = tmp_path / "docs" / "results"
    runs = pd.read_csv(out / "runs.csv")
    studies = tmp_path / "studies.db"  # another machine's store: one study, no seed runs yet
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{studies}")
    mlflow.set_tracking_uri(f"sqlite:///{studies}")
    client = mlflow.MlflowClient()
    exp_id = client.create_experiment("h2rec", artifact_location=(tmp_path / "studies").as_uri())
    tags = {"kind": "trial", "sweep": "tune", "variant": "sasrec", "model": "sasrec", "dataset": "beauty", "trial": "0"}
    log_run(client, exp_id, {**tags, "optuna_state": "COMPLETE"}, {"best_valid/ndcg_10": 0.05}, 1_700_200_000_000)
    assert cli(["report"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "runs.csv"), runs)
    assert pd.read_csv(out / "tuning.csv")[["dataset", "variant", "state"]].values.tolist() == [["beauty", "sasrec", "COMPLETE"]]


def test_a_run_trained_on_a_gpu_is_its_own_variant(store, tmp_path):
    import pandas as pd

    client = mlflow.MlflowClient()
    exp_id = client.get_experiment_by_name("h2rec").experiment_id
    tags = {"variant": "sasrec", "sweep": "main", "seed": "0", "dataset": "scientific", "device": "cuda"}
    log_run(client, exp_id, tags, eval_metrics(0.6, np.random.default_rng(1)), 1_700_300_000_000)  # the newest run
    assert cli(["report"]) == 0
    runs = pd.read_csv(tmp_path / "docs" / "results" / "runs.csv")
    assert sorted(runs.loc[runs["variant"] == "sasrec", "seed"]) == SEEDS  # the CPU's seeds stay, none replaced
    assert runs.loc[runs["variant"] == "sasrec_gpu", "seed"].tolist() == [0]
    page = (tmp_path / "docs" / "results" / "scientific.md").read_text()
    assert "`sasrec_gpu`: SASRec (HID), trained on a GPU" in page


def test_seeds_of_two_configurations_under_one_name_are_flagged(store, tmp_path):
    import pandas as pd

    client = mlflow.MlflowClient()
    exp_id = client.get_experiment_by_name("h2rec").experiment_id
    for seed, config in ((3, "aaaa000000"), (4, "bbbb111111")):  # the same variant from two grid entries
        tags = {"variant": "sasrec", "sweep": "main", "seed": str(seed), "dataset": "scientific", "config": config}
        log_run(client, exp_id, tags, eval_metrics(0.07, np.random.default_rng(seed)), 1_700_400_000_000 + seed)
    assert cli(["report"]) == 0
    runs = pd.read_csv(tmp_path / "docs" / "results" / "runs.csv", keep_default_na=False)
    assert runs.loc[runs["variant"] == "sasrec", "config"].tolist() == ["", "", "", "aaaa000000", "bbbb111111"]
    page = (tmp_path / "docs" / "results" / "scientific.md").read_text()
    assert "pool seeds of different configurations" in page and "`sasrec` (2)" in page
    assert cli(["report", "--from-export"]) == 0  # the column reads back as text
    assert "`sasrec` (2)" in (tmp_path / "docs" / "results" / "scientific.md").read_text()


def test_a_backbone_baseline_is_compared_with_its_own_family_only():
    from h2rec.commands.report import compared_with

    variants = ["sasrec", "gru4rec", "gru4rec_sid", "gru4rec_h2rec", "bert4rec", "bert4rec_h2rec", "h2rec"]
    assert compared_with("gru4rec", variants) == ["gru4rec_sid", "gru4rec_h2rec"]
    assert compared_with("bert4rec", variants) == ["bert4rec_h2rec"]
    assert compared_with("sasrec", variants) == [v for v in variants if v != "sasrec"]  # sasrec stands for no backbone family
    on_gpu = ["gru4rec", "gru4rec_h2rec", "gru4rec_gpu", "gru4rec_h2rec_gpu", "gru4rec_sid_gpu"]
    assert compared_with("gru4rec_gpu", on_gpu) == ["gru4rec_h2rec_gpu", "gru4rec_sid_gpu"]  # one device at a time
    assert compared_with("gru4rec", on_gpu) == ["gru4rec_h2rec"]


def test_every_comparison_stays_on_one_device():
    from h2rec.commands.report import compared_with, reference_for

    variants = ["sasrec", "h2rec", "text_init", "sasrec_gpu", "h2rec_gpu", "text_init_gpu"]
    assert compared_with("sasrec", variants) == ["h2rec", "text_init"]
    assert compared_with("sasrec_gpu", variants) == ["h2rec_gpu", "text_init_gpu"]
    # a side sweep's or ablation's variant is compared with H2Rec on its own device
    assert [reference_for(v) for v in ("no_gate", "no_gate_gpu", "h2rec", "h2rec_gpu")] == ["h2rec", "h2rec_gpu", None, None]


def test_a_retagged_run_replaces_its_row_under_the_old_name():
    import pandas as pd

    from h2rec.commands.report import merge_export

    earlier = pd.DataFrame({"dataset": ["s", "s"], "variant": ["old_name", "kept"], "seed": [0, 0], "run_id": ["a", "b"]})
    fresh = pd.DataFrame({"dataset": ["s"], "variant": ["new_name"], "seed": [0], "run_id": ["a"]})
    merged = merge_export(earlier, fresh, ["dataset", "variant", "seed"])
    assert sorted(merged["variant"]) == ["kept", "new_name"]


def test_summary_text_is_json_with_one_record_a_line():
    summary = {
        "rows": [{"dataset": "beauty", "mean": 0.1, "std": 0.0, "seeds": 5}, {"dataset": "x", "mean": 1.25e-9}],
        "comparisons": [],
    }
    text = summary_text(summary)
    assert json.loads(text) == summary
    assert json.loads(summary_text({"rows": [{"mean": 0.123456789, "seeds": 5}]})) == {"rows": [{"mean": 0.123457, "seeds": 5}]}
    assert list(json.loads(text)) == ["rows", "comparisons"]  # the documented order, not sorted
    record_lines = [line for line in text.splitlines() if line.startswith("{") and line != "{"]
    assert [json.loads(line.rstrip(",")) for line in record_lines] == summary["rows"]
    with pytest.raises(ValueError):  # a NaN would not be JSON
        summary_text({"rows": [{"mean": float("nan")}], "comparisons": []})


def test_plots_name_models_by_label_and_mark_gpu_runs():
    assert plot_label("sasrec_h128") == LABELS["sasrec_h128"]
    assert plot_label("sasrec_h128_gpu") == LABELS["sasrec_h128"] + " (GPU)"
    assert plot_label("unlabelled_variant") == "unlabelled_variant"
