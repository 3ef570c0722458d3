"""Model names (params `train.model`) -> builders.

A builder receives the whole train config, the dataset and the Semantic ID table (None for a
model registered with `needs_sid=False`) and returns a `SequentialRecommender`. A new model
registers itself with `@register("name", needs_sid=...)` in its module and is listed in
`MODEL_MODULES` so that it is imported here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from h2rec.errors import ConfigError
from h2rec.models.base import SequentialRecommender
from h2rec.models.losses import NextItemLoss
from h2rec.train.config import TrainConfig
from h2rec.train.data import SeqDataset
from h2rec.train.sid_table import SidTable

Builder = Callable[[TrainConfig, SeqDataset, "SidTable | None"], SequentialRecommender]


@dataclass(frozen=True)
class Entry:
    build: Builder
    needs_sid: bool


MODELS: dict[str, Entry] = {}
# Modules that register models outside this file; imported lazily by `build_model`.
MODEL_MODULES: list[str] = ["h2rec.models.h2rec"]


def register(name: str, needs_sid: bool = False) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        MODELS[name] = Entry(fn, needs_sid)
        return fn

    return deco


def entry(name: str) -> Entry:
    for module in MODEL_MODULES:
        importlib.import_module(module)
    if name not in MODELS:
        raise ConfigError(f"train.model: unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name]


def build_model(cfg: TrainConfig, data: SeqDataset, sid: SidTable | None = None) -> SequentialRecommender:
    e = entry(cfg.model)
    if e.needs_sid and sid is None:
        raise ConfigError(f"train.model {cfg.model!r} needs Semantic IDs (data/sid); run `h2rec tokenize` first")
    return e.build(cfg, data, sid)


def make_loss(cfg: TrainConfig, n_items: int) -> NextItemLoss:
    return NextItemLoss(cfg.loss, n_items, cfg.bce_negatives, cfg.softmax_negatives)


@register("sasrec")
def _sasrec(cfg: TrainConfig, data: SeqDataset, sid: SidTable | None) -> SequentialRecommender:
    from h2rec.models.sasrec import SASRec

    return SASRec(data.n_items, cfg.backbone, make_loss(cfg, data.n_items))


@register("sid_sasrec", needs_sid=True)
def _sid_sasrec(cfg: TrainConfig, data: SeqDataset, sid: SidTable | None) -> SequentialRecommender:
    from h2rec.models.sid_sasrec import SIDSASRec

    assert sid is not None
    return SIDSASRec(
        data.n_items, sid.codes, sid.cardinalities, cfg.backbone, cfg.sid,
        make_loss(cfg, data.n_items), codebooks=sid.codebooks,
    )


@register("pop")
def _pop(cfg: TrainConfig, data: SeqDataset, sid: SidTable | None) -> SequentialRecommender:
    from h2rec.models.pop import Popularity

    return Popularity(data.train_count)
