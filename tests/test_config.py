from pathlib import Path

import pytest
import yaml

from h2rec.config import load_params
from h2rec.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, params: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def repo_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_repo_params_load():
    params = load_params(ROOT / "params.yaml")
    assert params.data.source.format == "scientific_json"
    assert 0 < params.preprocess.head_share < 1


def test_unknown_key_is_named(tmp_path):
    raw = repo_params()
    raw["preprocess"]["k_cores"] = 5
    with pytest.raises(ConfigError, match=r"preprocess\.k_cores"):
        load_params(write(tmp_path, raw))


def test_wrong_type_is_named(tmp_path):
    raw = repo_params()
    raw["preprocess"]["head_share"] = "a fifth"
    with pytest.raises(ConfigError, match=r"preprocess\.head_share"):
        load_params(write(tmp_path, raw))


def test_unknown_dataset_lists_choices(tmp_path):
    raw = repo_params()
    raw["data"]["dataset"] = "movies"
    with pytest.raises(ConfigError, match="movies.*beauty"):
        load_params(write(tmp_path, raw))


def test_unknown_section_is_refused(tmp_path):
    raw = repo_params()
    raw["trainer"] = {"epochs": 3}
    with pytest.raises(ConfigError, match="trainer"):
        load_params(write(tmp_path, raw))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_overrides_merge(tmp_path):
    params = load_params(ROOT / "params.yaml", {"data": {"dataset": "beauty"}})
    assert params.data.source.format == "beauty"
