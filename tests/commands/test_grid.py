"""The checks a sweep or a study makes before any trial runs."""

from pathlib import Path

import pytest
import yaml

from h2rec.commands.grid import check_prepared, pick, read_grid, validated
from h2rec.errors import ConfigError, DataError

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
BENCH = EXPERIMENTS.parent / "bench"


def write_lock(path, dataset: str) -> None:
    stage = {"cmd": "python -m h2rec.stages.ingest", "params": {"params.yaml": {"data": {"dataset": dataset}}}}
    path.write_text(yaml.safe_dump({"schema": "2.0", "stages": {"ingest": stage}}))


def test_trials_refuse_another_datasets_prepared_data(tmp_path):
    prepared = tmp_path / "prepared"
    with pytest.raises(DataError, match="no prepared data; run `dvc repro"):
        check_prepared("beauty", prepared, tmp_path / "dvc.lock")
    prepared.mkdir()
    (prepared / "interactions.parquet").write_bytes(b"")
    lock = tmp_path / "dvc.lock"
    check_prepared("beauty", prepared, lock)  # no dvc.lock: nothing recorded to contradict
    write_lock(lock, "beauty")
    check_prepared("beauty", prepared, lock)
    with pytest.raises(ConfigError, match=r"last prepared 'beauty', not 'scientific'.*or pass --dataset beauty"):
        check_prepared("scientific", prepared, lock)


# The settings every shipped grid's runs were measured at, before the defaults moved to a tuned
# configuration: a variant that does not set one of these itself must still get it.
MEASURED_AT = {"lr": 0.001, "batch_size": 256, "layers": 2, "dropout": 0.5, "attn_dropout": 0.5}


@pytest.mark.parametrize("path", sorted([*EXPERIMENTS.rglob("*.yaml"), BENCH / "cost_parts.yaml"]), ids=lambda p: p.name)
def test_shipped_grids_keep_their_measured_settings_whatever_params_yaml_says(path, tmp_path):
    """A grid's `base` pins what its runs were measured at: with params.yaml's training defaults
    moved elsewhere, every variant still trains at those settings unless it sets its own."""
    raw = yaml.safe_load((EXPERIMENTS.parent / "params.yaml").read_text())
    raw["train"].update(lr=0.005, batch_size=64)
    raw["train"]["backbone"].update(layers=4, dropout=0.1, attn_dropout=0.1)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    grid = read_grid(path)
    for name, cfg in validated(grid.variants, params).items():
        over, t = grid.variants[name], cfg.train
        got = {
            "lr": t.lr,
            "batch_size": t.batch_size,
            **{k: getattr(t.backbone, k) for k in ("layers", "dropout", "attn_dropout")},
        }
        want = {
            **MEASURED_AT,
            **{k: v for k, v in over.items() if k in MEASURED_AT},
            **{k: v for k, v in over.get("backbone", {}).items() if k in MEASURED_AT},
        }
        assert got == want, f"{path.name}: {name}"
    assert pick(grid, list(grid.variants)[:1]).base == grid.base  # picking keeps the base
