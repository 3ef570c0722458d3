"""The checks a sweep or a study makes before any trial runs."""

import pytest
import yaml

from h2rec.commands.grid import check_prepared
from h2rec.errors import ConfigError, DataError


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
