import re
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


@pytest.mark.parametrize(
    "text, where",
    [
        ("data:\n  dataset: scientific\n\tsources: {}\n", r"line 3, column 1: found character '\\t'"),  # a tab
        ("train:\n  epochs: 5\n   patience: 2\n", r"line 3, column 12: mapping values are not allowed here"),
        ("evaluate:\n  ks: [5, 10\n", r"line 3, column 1: expected ',' or '\]'"),
    ],
)
def test_invalid_yaml_names_line_and_column(tmp_path, text, where):
    bad = tmp_path / "params.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_params(bad)
    first, hint = str(err.value).split("\n")
    assert re.fullmatch(rf"{re.escape(str(bad))}: {where}.*", first), first
    assert "is not valid YAML: indent with spaces" in hint


def test_removed_key_says_what_replaced_it(tmp_path):
    raw = repo_params()
    raw["evaluate"]["log_model"] = True
    with pytest.raises(ConfigError, match=r"evaluate\.log_model: removed: the register stage logs the model"):
        load_params(write(tmp_path, raw))


def test_overrides_merge(tmp_path):
    params = load_params(ROOT / "params.yaml", {"data": {"dataset": "beauty"}})
    assert params.data.source.format == "beauty"


# -- one source of defaults ------------------------------------------------------------------
def schema_vs_file(model, raw: dict, prefix: str, require_all: bool) -> list[str]:
    """Keys whose schema default differs from params.yaml (or that params.yaml leaves out)."""
    from pydantic import BaseModel

    problems = []
    for name, field in type(model).model_fields.items():
        key = field.alias or name
        dotted = f"{prefix}{key}"
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            problems += schema_vs_file(value, raw.get(key) or {}, dotted + ".", require_all)
            continue
        if field.is_required() or (not require_all and field.default is None):
            continue  # required, or an optional value a dataset entry may set (not a default)
        if key not in raw:
            if require_all:
                problems.append(f"{dotted}: missing from params.yaml (default {field.default!r})")
            continue
        if value != field.default:
            problems.append(f"{dotted}: params.yaml has {value!r}, the schema default is {field.default!r}")
    return problems


def test_every_schema_default_is_the_params_yaml_value():
    raw = repo_params()
    params = load_params(ROOT / "params.yaml")
    problems = []
    for name, field in type(params).model_fields.items():
        section = field.alias or name
        if section == "data":  # dataset and sources have no defaults; sources are checked below
            for src_name, src in params.data.sources.items():
                problems += schema_vs_file(src, raw["data"]["sources"][src_name], f"data.sources.{src_name}.", False)
            continue
        problems += schema_vs_file(getattr(params, name), raw[section], f"{section}.", True)
    assert problems == []


def test_the_defaults_check_sees_a_disagreement():
    from h2rec.config import TrainConfig

    cfg = TrainConfig(epochs=7)
    assert schema_vs_file(cfg, {"epochs": 7}, "train.", False) == ["train.epochs: params.yaml has 7, the schema default is 50"]
    assert "train.lr: missing from params.yaml (default 0.0013997620457897768)" in schema_vs_file(
        TrainConfig(), {}, "train.", True
    )


@pytest.mark.parametrize(
    "old, value, new",
    [
        (("train", "h2rec", "lambda_item"), 0.2, "train.h2rec.lambda_code"),
        (("train", "h2rec", "lambda_user"), 0.2, "train.h2rec.lambda_mask"),
        (("train", "h2rec", "fusion"), "sum", "train.h2rec.interaction"),
        (("train", "h2rec", "level_fusion"), "sum", "train.sid.pooling"),
        (("train", "sid", "fusion"), "sum", "train.sid.pooling"),
        (("train", "sid", "init_from_codebooks"), True, "train.sid.init"),
        (("train", "h2rec", "sid_init"), "codebooks", "train.sid.init"),
        (("train", "h2rec", "hid_init"), "pca", "train.hid.init"),
        (("train", "h2rec", "cooccurrence"), {"window": 2}, "cooccurrence"),
    ],
)
def test_renamed_keys_name_their_new_key(tmp_path, old, value, new):
    raw = repo_params()
    node = raw
    for part in old[:-1]:
        node = node[part]
    node[old[-1]] = value
    with pytest.raises(ConfigError, match=rf"{'.'.join(old)}: renamed to {new}"):
        load_params(write(tmp_path, raw))


@pytest.mark.parametrize(
    ("selection", "message"),
    [({"overall": 0.0}, r"train.*selection.*no positive weight"), ({"cold": 1.0}, r"train\.selection\.cold")],
)
def test_a_selection_without_weight_or_with_an_unknown_group_is_named(tmp_path, selection, message):
    raw = repo_params()
    raw["train"]["selection"] = selection
    with pytest.raises(ConfigError, match=message):
        load_params(write(tmp_path, raw))


def test_a_window_stride_above_max_len_is_refused():
    load_params(overrides={"train": {"window_stride": 50, "backbone": {"max_len": 50}}})  # side by side: fine
    with pytest.raises(ConfigError, match=r"window_stride 60 is above backbone.max_len 50"):
        load_params(overrides={"train": {"window_stride": 60, "backbone": {"max_len": 50}}})
