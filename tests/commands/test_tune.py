"""The tuner: search spaces, override files, and real studies on a slice of real data."""

from __future__ import annotations

from pathlib import Path

import mlflow
import optuna
import pytest
import yaml

from h2rec.commands import tune as tuner
from h2rec.commands.grid import read_grid
from h2rec.config import SearchDim, TuneConfig, load_params
from h2rec.errors import ConfigError


def test_suggest_covers_ranges_choices_and_nested_keys():
    space = {
        "lr": SearchDim(low=1e-4, high=1e-2, log=True),
        "backbone.layers": SearchDim(low=1, high=3, int=True),
        "backbone.dropout": SearchDim(low=0.1, high=0.5),
        "weight_decay": SearchDim(choices=[0.0, 0.01]),
    }
    values = tuner.suggest(
        optuna.trial.FixedTrial({"lr": 1e-3, "backbone.layers": 2, "backbone.dropout": 0.2, "weight_decay": 0.0}), space
    )
    assert tuner.nested(values) == {"lr": 1e-3, "backbone": {"layers": 2, "dropout": 0.2}, "weight_decay": 0.0}
    sampled = tuner.suggest(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask(), space)
    assert 1e-4 <= sampled["lr"] <= 1e-2 and sampled["backbone.layers"] in (1, 2, 3) and sampled["weight_decay"] in (0.0, 0.01)


def test_trial_params_merge_the_variant_the_sample_and_the_epoch_cap(tmp_path):
    params = tuner.trial_params(
        "params.yaml", "scientific", {"model": "sasrec", "backbone": {"hidden": 128}}, {"backbone.dropout": 0.3}, epochs=7
    )
    t = params.train
    assert (t.model, t.backbone.hidden, t.backbone.dropout, t.epochs, t.progress) == ("sasrec", 128, 0.3, 7, False)


def test_the_trial_epoch_cap_never_raises_train_epochs(tmp_path):
    raw = yaml.safe_load(Path("params.yaml").read_text())
    raw["train"]["epochs"] = 12
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    epochs = lambda over, cap: tuner.trial_params(tmp_path / "params.yaml", "scientific", over, {}, cap).train.epochs  # noqa: E731
    assert epochs({}, 30) == 12  # params.yaml's 12 epochs, not the cap's 30
    assert epochs({}, 7) == 7
    assert epochs({"epochs": 40}, 30) == 30
    assert epochs({}, None) == 12


@pytest.mark.parametrize(
    "tune, message",
    [
        ({"space": {"learning_rate": {"low": 0.1, "high": 1}}}, "are not train keys"),
        ({"space": {"lr": {"low": 0.1, "high": 0.01}}}, "tune.space.lr: Value error, empty or inverted range"),
        ({"space": {"lr": {"low": 0.1, "high": 0.1}}}, "empty or inverted range"),
        ({"space": {"weight_decay": {"choices": []}}}, "tune.space.weight_decay: Value error, choices is empty"),
        ({"space": {"lr": {"low": 0.0, "high": 0.1, "log": True}}}, "a log range needs low > 0"),
        ({"sampler": "cmaes"}, "tune.sampler: Input should be 'tpe' or 'random'"),
    ],
)
def test_bad_search_settings_name_the_key(tune, message):
    with pytest.raises(ConfigError, match=message):
        load_params("params.yaml", {"tune": tune})


def test_an_unopenable_storage_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="tune.storage: cannot open 'nosuchdb://x'"):
        tuner.check_storage(TuneConfig(storage="nosuchdb://x"))


def _prepared_project(project, space: dict, trials_epochs: int = 2):
    from h2rec.stages import ingest, split

    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["tune"] = {
        **raw["tune"],
        "space": space,
        "epochs": trials_epochs,
        "storage": f"sqlite:///{project / 'optuna.db'}",
        "startup_trials": 2,  # random trials first; the pruner spares the first two: two complete ones for the importances
        "warmup_epochs": 1,
    }
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    p = load_params()
    ingest.run(p.data, p.validate_)
    split.run(p.preprocess)


def _runs(kind: str):
    runs = mlflow.search_runs(experiment_names=["h2rec-test"], output_format="list")
    return [r for r in runs if r.data.tags.get("kind") == kind]


@pytest.mark.integration
def test_a_study_tracks_its_trials_and_writes_the_override_file(project, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    _prepared_project(project, {"lr": {"low": 0.0005, "high": 0.005, "log": True}, "backbone.dropout": {"choices": [0.2, 0.5]}})
    result = tuner.tune("sasrec", {"model": "sasrec"}, "scientific", "params.yaml", 3, "h2rec-test", "h2rec")
    states = [r["state"] for r in result["results"]]
    assert len(states) == 3 and set(states) <= {"COMPLETE", "PRUNED"} and "COMPLETE" in states
    (study,) = _runs("study")
    trials = _runs("trial")
    assert len(trials) == 3 and all(t.data.tags["mlflow.parentRunId"] == study.info.run_id for t in trials)
    assert {t.data.tags["optuna_state"] for t in trials} == set(states)
    assert all(t.data.tags["variant"] == "sasrec" and t.data.tags["sweep"] == "tune" for t in trials)
    assert all("valid/selection" in t.data.metrics for t in trials)  # the per-epoch objective
    for r, t in zip(
        sorted(result["results"], key=lambda r: r["number"]), sorted(trials, key=lambda t: int(t.data.tags["trial"]))
    ):
        if r["state"] == "COMPLETE":  # train.selection at its default: the overall NDCG@10
            assert r["value"] == t.data.metrics["best_valid/selection"] == t.data.metrics["best_valid/ndcg_10"]
    assert study.data.metrics["trials_complete"] == states.count("COMPLETE")
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(study.info.run_id, "optuna")}
    assert {"optuna/optimization_history.png", "optuna/parallel_coordinate.png", "optuna/param_importances.png"} <= artifacts
    path = result["override_file"]
    assert path == tuner.TUNED_DIR / "scientific" / "sasrec.yaml"
    grid = read_grid(path)  # usable as a grid file by flows.sweep
    best = grid.variants["sasrec"]
    assert grid.dataset == "scientific" and best["model"] == "sasrec" and 0.0005 <= best["lr"] <= 0.005
    assert best["backbone"]["dropout"] in (0.2, 0.5)
    # the DVC line reproduces the model and the dataset too, not only the sampled settings
    assert "dvc exp run -S data.dataset=scientific -S train.model=sasrec " in path.read_text()
    load_params("params.yaml", {"train": best})  # and as a train override of params.yaml
    # The study continues where it stopped: a second call adds trials to it. A trial that a
    # stopped call left running (asked, never told) is marked failed first.
    storage = tuner.storage_url(load_params().tune)
    optuna.load_study(study_name="scientific-sasrec", storage=storage).ask()
    more = tuner.tune("sasrec", {"model": "sasrec"}, "scientific", "params.yaml", 1, "h2rec-test", "h2rec")
    assert more["results"][0]["number"] == 4
    assert optuna.load_study(study_name="scientific-sasrec", storage=storage).trials[3].state.name == "FAIL"
    # ...but not with another variant of the same name: its trials would not be comparable.
    with pytest.raises(ConfigError, match="study 'scientific-sasrec' in tune.storage was run with other settings"):
        tuner.tune(
            "sasrec", {"model": "sasrec", "backbone": {"hidden": 128}}, "scientific", "params.yaml", 1, "h2rec-test", "h2rec"
        )
    assert len(optuna.load_study(study_name="scientific-sasrec", storage=storage).trials) == 5


@pytest.mark.integration
def test_a_study_maximises_the_variants_selection_score(project, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    _prepared_project(project, {"lr": {"low": 0.0005, "high": 0.005, "log": True}})
    overrides = {"model": "sasrec", "selection": {"overall": 0.0, "tail": 1.0}}
    result = tuner.tune("sasrec_tail", overrides, "scientific", "params.yaml", 1, "h2rec-test", "h2rec")
    (trial,) = _runs("trial")
    assert result["results"][0]["value"] == trial.data.metrics["best_valid/selection"]
    client = mlflow.MlflowClient()
    tail = [m.value for m in sorted(client.get_metric_history(trial.info.run_id, "valid/selection"), key=lambda m: m.step)]
    overall = [m.value for m in sorted(client.get_metric_history(trial.info.run_id, "valid/ndcg_10"), key=lambda m: m.step)]
    assert max(tail) == result["results"][0]["value"] and tail != overall  # the tail's NDCG@10, not the overall one
    print(f"validation NDCG@10 by epoch: tail {tail}, overall {overall}")
    assert "validation NDCG@10 weighted tail 1 (full ranking)" in result["override_file"].read_text()


@pytest.mark.integration
def test_failing_trials_are_recorded_and_the_study_goes_on(project, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    _prepared_project(project, {"backbone.heads": {"choices": [3]}})  # hidden 32 does not divide by 3
    result = tuner.tune("sasrec", {"model": "sasrec"}, "scientific", "params.yaml", 2, "h2rec-test", "h2rec")
    assert [r["state"] for r in result["results"]] == ["FAIL", "FAIL"] and result["override_file"] is None
    assert "no trial completed" in result["summary"]
    trials = _runs("trial")
    assert len(trials) == 2 and all(t.info.status == "FAILED" for t in trials)
    assert all("must be divisible by backbone.heads" in t.data.tags["failure"] for t in trials)
    (study,) = _runs("study")
    assert study.info.status == "FINISHED" and study.data.metrics["trials_fail"] == 2
