"""A seed sweep on a real 2-worker local Dask cluster through Prefect's Dask task runner, and
the grid files of experiments/ it reads."""

from pathlib import Path

import mlflow
import pytest
import yaml
from prefect.settings import PREFECT_API_URL
from prefect_dask import DaskTaskRunner

from flows.sweep import Grid, grid_from, main, pick, read_grid, sweep, trial_tags, validated
from h2rec.errors import ConfigError
from tests.conftest import PLAIN_START

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_grid_file_maps_variants_to_overrides(tmp_path):
    path = tmp_path / "ablation.yaml"
    path.write_text(
        "seeds: [3, 4]\ndataset: beauty\nh2rec: {model: h2rec}\nno_gate: {model: h2rec, h2rec: {gate: mean}}\nplain:\n"
    )
    grid = read_grid(path)
    assert grid == Grid(
        "ablation",
        {"h2rec": {"model": "h2rec"}, "no_gate": {"model": "h2rec", "h2rec": {"gate": "mean"}}, "plain": {}},
        seeds=[3, 4],
        dataset="beauty",
    )
    trials = grid_from([], grid.seeds, grid.variants)
    assert list(trials) == ["h2rec-s3", "h2rec-s4", "no_gate-s3", "no_gate-s4", "plain-s3", "plain-s4"]
    assert trial_tags("no_gate-s4", trials["no_gate-s4"], grid.name, "beauty", "sasrec") == {
        "sweep": "ablation",
        "variant": "no_gate",
        "seed": "4",
        "dataset": "beauty",
        "model": "h2rec",
        "config": trial_tags("no_gate-s3", trials["no_gate-s3"], grid.name, "beauty", "sasrec")["config"],
    }
    assert trial_tags("plain-s3", trials["plain-s3"], grid.name, "beauty", "sasrec")["model"] == "sasrec"


def test_picking_variants_keeps_the_sweep_tag_and_names_a_missing_one(tmp_path):
    path = tmp_path / "tail.yaml"
    path.write_text("seeds: [0, 1]\nh2rec: {model: h2rec}\nh2rec_la05: {model: h2rec, logit_adjustment: 0.5}\n")
    picked = pick(read_grid(path), ["h2rec_la05"])
    assert picked == Grid("tail", {"h2rec_la05": {"model": "h2rec", "logit_adjustment": 0.5}}, seeds=[0, 1])
    with pytest.raises(ConfigError, match="'h2rec_la10' is not in grid 'tail'"):
        pick(read_grid(path), ["h2rec_la10"])
    with pytest.raises(SystemExit):
        main(["--variants", "h2rec_la05"])  # no --grid: a usage error before any cluster starts


def test_a_grid_base_lies_under_every_variant_and_keeps_its_meaning(tmp_path):
    """`base` pins what a grid was measured at: a variant's own keys win, nested keys merge."""
    path = tmp_path / "pinned.yaml"
    path.write_text(
        "base: {logit_adjustment: 0.0, hid: {init: random}}\n"
        "plain: {model: h2rec}\n"
        "text: {model: h2rec, hid: {init: pca}, backbone: {hidden: 32}}\n"
    )
    grid = read_grid(path)
    assert "base" not in grid.variants
    assert grid.variants["plain"] == {"logit_adjustment": 0.0, "hid": {"init": "random"}, "model": "h2rec"}
    assert grid.variants["text"] == {
        "logit_adjustment": 0.0,
        "hid": {"init": "pca"},
        "model": "h2rec",
        "backbone": {"hidden": 32},
    }
    params = validated(grid.variants, EXPERIMENTS.parent / "params.yaml")
    assert params["plain"].train.hid.init == "random" and params["plain"].train.logit_adjustment == 0.0
    assert params["text"].train.hid.init == "pca" and params["text"].train.backbone.hidden == 32


def test_grid_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="grid file not found"):
        read_grid(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    for text, message in (
        ("seeds: 0\nh2rec: {}\n", "`seeds` must be a list"),
        ("h2rec: mean\n", "must map to train overrides"),
        ("seeds: [0]\n", "no variants"),
        ("base: random\nh2rec: {}\n", "`base` must map train keys"),
        ("- h2rec\n", "expected a mapping"),
    ):
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message):
            read_grid(bad)


def test_grid_files_of_the_project_use_the_train_keys():
    main, ablation = read_grid(EXPERIMENTS / "main.yaml"), read_grid(EXPERIMENTS / "ablation.yaml")
    assert list(main.variants) == ["sasrec", "sid_sasrec", "h2rec"] and main.seeds == [0, 1, 2]
    plain = ablation.base  # the settings the ablations were measured at
    assert plain == {
        "hid": {"init": "random"},
        "sid": {"init": "random"},
        "logit_adjustment": 0.0,
        "lr": 0.001,
        "batch_size": 256,
        "backbone": {"layers": 2, "dropout": 0.5, "attn_dropout": 0.5},
    }
    assert ablation.variants["h2rec"] == {**plain, "model": "h2rec"}  # the ablations' reference
    assert ablation.variants["no_cross_attention"] == {**plain, "model": "h2rec", "h2rec": {"interaction": "none"}}
    assert {k for over in ablation.variants.values() for k in over.get("h2rec", {})} == {
        "lambda_code",
        "lambda_mask",
        "gate",
        "interaction",
        "branches",
        "shared_backbone",
        "code_cooccurrence",
    }


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(EXPERIMENTS)))
def test_every_variant_of_the_project_grids_is_valid_params(path):
    """A misspelt key in a committed grid fails here, not an hour into a sweep."""
    grid = read_grid(path)
    for name, params in validated(grid.variants, EXPERIMENTS.parent / "params.yaml", grid.dataset).items():
        assert params.train.model == grid.variants[name].get("model", params.train.model), name


def test_a_misspelt_variant_key_is_named_before_any_run(tmp_path):
    with pytest.raises(ConfigError, match="lrr"):
        validated({"typo": {"model": "sasrec", "lrr": 0.01}}, EXPERIMENTS.parent / "params.yaml")


def test_grid_names_every_trial():
    grid = grid_from(["sasrec"], [0, 1], {"no-gate": {"model": "h2rec", "h2rec": {"gate": False}}})
    assert grid == {
        "no-gate-s0": {"model": "h2rec", "h2rec": {"gate": False}, "seed": 0},
        "no-gate-s1": {"model": "h2rec", "h2rec": {"gate": False}, "seed": 1},
    }


def test_a_trials_config_tag_tells_grid_entries_apart_but_not_seeds():
    grid = grid_from([], [0, 1], {"naive_sum": {"model": "h2rec", "h2rec": {"interaction": "sum"}}})
    other = grid_from([], [0], {"naive_sum": {"model": "h2rec", "h2rec": {"interaction": "sum"}, "hid": {"init": "pca"}}})
    config = {n: trial_tags(n, o, "grid", "beauty", "h2rec")["config"] for n, o in grid.items()}
    assert config["naive_sum-s0"] == config["naive_sum-s1"]
    assert trial_tags("naive_sum-s0", other["naive_sum-s0"], "grid", "beauty", "h2rec")["config"] != config["naive_sum-s0"]


@pytest.mark.integration
def test_seed_sweep_on_two_dask_workers(prefect_server, dvc_project, monkeypatch):
    from h2rec.config import load_params
    from h2rec.stages import ingest, split

    monkeypatch.chdir(dvc_project)
    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))  # for the worker processes
    raw = yaml.safe_load((dvc_project / "params.yaml").read_text())
    raw["train"].update(PLAIN_START)  # only ingest and split run here: no text embeddings
    (dvc_project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    p = load_params()
    ingest.run(p.data, p.validate_)
    split.run(p.preprocess)
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True})
    # SID-SASRec cannot train here (no SID codes: the tokenize stage did not run). Its trials fail
    # and are named at the end; SASRec's trials, on the same workers, still run to the end.
    with pytest.raises(RuntimeError, match=r"2 of 4 trials failed .*sid_sasrec-s0"):
        sweep.with_options(task_runner=runner)(["sasrec", "sid_sasrec"], [0, 1], None, str(dvc_project))
    assert (dvc_project / "models/sweep/sasrec-s1/best.pt").exists()
    runs = mlflow.search_runs(experiment_names=["h2rec-test"], output_format="list")
    parent = next(r for r in runs if r.data.tags.get("mlflow.runName") == "sweep")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FAILED"
    assert sorted((r.data.tags["stage"], r.info.status) for r in children if r.data.tags["model"] == "sid_sasrec") == [
        ("sid_sasrec-s0", "FAILED"),
        ("sid_sasrec-s1", "FAILED"),
    ]
    siblings = [r for r in children if r.data.tags["model"] == "sasrec"]
    assert {r.info.status for r in siblings} == {"FINISHED"}
    assert all(0 <= r.data.metrics["full/overall/ndcg_10"] <= 1 for r in siblings)
    assert sorted(r.data.tags["stage"] for r in siblings) == ["sasrec-s0", "sasrec-s1"]
    assert sorted(
        (r.data.tags["sweep"], r.data.tags["variant"], r.data.tags["seed"], r.data.tags["model"]) for r in siblings
    ) == [("models", "sasrec", "0", "sasrec"), ("models", "sasrec", "1", "sasrec")]
    assert all(r.data.tags["dataset"] == "scientific" for r in siblings)
    assert all("full/overall/ndcg_10" in r.data.metrics for r in siblings)
    assert {r.data.params["train.num_threads"] for r in siblings} == {"1"}  # the worker's one thread, not params' 2
    assert {(r.data.tags["device"], r.data.tags["precision"]) for r in siblings} == {("cpu", "fp32")}  # where each trained
