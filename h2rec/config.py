"""Typed view of params.yaml, validated once.

Every section is a pydantic model that forbids unknown keys, so a typo in params.yaml stops
the run with the key's dotted path instead of being silently ignored. Each stage receives only
its own section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from h2rec.errors import ConfigError
from h2rec.sid.config import EmbedConfig, TokenizeConfig
from h2rec.train.config import EvaluateConfig, TrainConfig

DEFAULT_PARAMS = Path("params.yaml")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScientificSource(Section):
    """LC-Rec/LETTER JSON: {user: [item, ...]} plus {item: {title, description, ...}}."""

    format: Literal["scientific_json"] = "scientific_json"
    interactions: Path
    items: Path


class BeautySource(Section):
    """P5-style `user item item ...` lines plus an `asin<TAB>title` table."""

    format: Literal["beauty"] = "beauty"
    sequences: Path
    titles: Path


class AmazonRawSource(Section):
    """Original Amazon review dumps (2014 or 2018), JSON lines, gzipped or not."""

    format: Literal["amazon_raw"] = "amazon_raw"
    reviews: Path
    meta: Path
    k_core: int = Field(5, ge=1)
    text_fields: list[str] = ["title", "brand", "categories", "description"]


class CustomSource(Section):
    """Bring your own data: an interactions file and an items file, CSV or Parquet."""

    format: Literal["custom"] = "custom"
    interactions: Path
    items: Path
    user_col: str = "user_id"
    item_col: str = "item_id"
    time_col: str = "timestamp"
    item_id_col: str = "item_id"
    text_cols: list[str] = ["title"]


Source = Annotated[
    ScientificSource | BeautySource | AmazonRawSource | CustomSource,
    Field(discriminator="format"),
]


class DataConfig(Section):
    dataset: str
    sources: dict[str, Source]

    @model_validator(mode="after")
    def _known_dataset(self) -> DataConfig:
        if self.dataset not in self.sources:
            raise ValueError(
                f"dataset '{self.dataset}' is not one of data.sources: {sorted(self.sources)}"
            )
        return self

    @property
    def source(self) -> Source:
        return self.sources[self.dataset]


class ValidateConfig(Section):
    min_text_share: float = Field(0.95, ge=0.0, le=1.0)
    max_timestamp: int = Field(4_102_444_800, gt=0)
    examples: int = Field(5, ge=1)


class PreprocessConfig(Section):
    k_core: int = Field(5, ge=3)
    head_share: float = Field(0.2, gt=0.0, lt=1.0)
    short_user_max_len: int = Field(5, ge=1)
    n_buckets: int = Field(5, ge=2)


class RegisterConfig(Section):
    model_name: str = "h2rec"
    tail_margin: float = Field(0.05, ge=0.0, le=1.0)
    top_k: int = Field(10, ge=1)
    example_users: int = Field(3, ge=1)


class Params(Section):
    data: DataConfig
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    preprocess: PreprocessConfig = PreprocessConfig()
    embed: EmbedConfig = EmbedConfig()
    tokenize: TokenizeConfig = TokenizeConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    register_: RegisterConfig = Field(RegisterConfig(), alias="register")


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: {err.error_count()} invalid setting(s):"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        got = e.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  - {key}: {e['msg']}{shown}")
    lines.append("Fix these keys in params.yaml; every key is documented there.")
    return "\n".join(lines)


def load_params(path: Path | str = DEFAULT_PARAMS, overrides: dict | None = None) -> Params:
    """Read and validate params.yaml; `overrides` is merged over it (nested dicts)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found; run from the project root or pass --params")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    raw = _merge(raw, overrides or {})
    try:
        return Params.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_errors(path, e)) from None


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
