"""Model names (params `train.model`) -> builders that compose a model from its parts.

A builder receives the whole train config and the `ModelInputs` its `needs` asked for, and
returns a `SequentialRecommender`. A new model registers itself here with
`@register("name", needs=...)`; `needs(cfg)` says which optional inputs that configuration
reads, so the caller loads nothing more.

    sasrec       HidTable + backbone                       (hid.init: pca = LLMInit-SASRec)
    sid_sasrec   SidEmbedding + backbone
    h2rec        HidTable + SidEmbedding + gate + interaction + backbone (h2rec.py)
    llm_esr      HidTable (text PCA) + frozen text adapter, cross-attention, shared backbone (llm_esr.py)
    pop          training-count popularity

Each sequence model reads `train.backbone.kind` (sasrec | gru4rec | bert4rec) through
`make_backbone`, so GRU4Rec and BERT4Rec versions of all three need no entry of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from h2rec.config import TrainConfig
from h2rec.errors import ConfigError
from h2rec.models.base import SequentialRecommender
from h2rec.models.inputs import ModelInputs, Needs
from h2rec.models.losses import NextItemLoss, log_prior

Builder = Callable[[TrainConfig, ModelInputs], SequentialRecommender]


@dataclass(frozen=True)
class Entry:
    build: Builder
    needs: Callable[[TrainConfig], Needs]  # to train
    rebuild: Callable[[TrainConfig], Needs]  # to rebuild from a checkpoint (the weights replace any initialisation)


MODELS: dict[str, Entry] = {}


def register(
    name: str,
    needs: Callable[[TrainConfig], Needs] = lambda cfg: Needs(),
    rebuild: Callable[[TrainConfig], Needs] | None = None,
) -> Callable[[Builder], Builder]:
    """`rebuild` defaults to the Semantic IDs alone when `needs` asks for them (their codes are structure)."""

    def deco(fn: Builder) -> Builder:
        MODELS[name] = Entry(fn, needs, rebuild or (lambda cfg: Needs(sid=needs(cfg).sid)))
        return fn

    return deco


def entry(name: str) -> Entry:
    if name not in MODELS:
        raise ConfigError(f"train.model: unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name]


def needs(cfg: TrainConfig) -> Needs:
    return entry(cfg.model).needs(cfg)


def rebuild_needs(cfg: TrainConfig) -> Needs:
    return entry(cfg.model).rebuild(cfg)


def build_model(cfg: TrainConfig, inputs: ModelInputs) -> SequentialRecommender:
    e = entry(cfg.model)
    if e.needs(cfg).sid and inputs.sid is None:
        raise ConfigError(f"train.model {cfg.model!r} needs Semantic IDs (data/sid); run `h2rec tokenize` first")
    return e.build(cfg, inputs)


def make_loss(cfg: TrainConfig, n_items: int, train_count=None) -> NextItemLoss:
    prior = log_prior(train_count) if cfg.logit_adjustment > 0 and train_count is not None else None
    return NextItemLoss(
        cfg.loss, n_items, cfg.bce_negatives, cfg.softmax_negatives, cfg.logit_adjustment, prior, cfg.softmax_sampling
    )


def _init_hid(table, cfg: TrainConfig, inputs: ModelInputs) -> None:
    """Start a HID table from the text PCA under `hid.init: pca | pca_whitened` (else keep it random)."""
    if cfg.hid.init != "random" and inputs.text_embeddings is not None and table is not None:
        table.init_from_text(inputs.text_embeddings, whiten=cfg.hid.init == "pca_whitened")


@register("sasrec", needs=lambda cfg: Needs(text=cfg.hid.init != "random"))
def _sasrec(cfg: TrainConfig, inputs: ModelInputs) -> SequentialRecommender:
    from h2rec.models.sasrec import SASRec

    model = SASRec(inputs.data.n_items, cfg.backbone, make_loss(cfg, inputs.data.n_items, inputs.data.train_count))
    _init_hid(model.items, cfg, inputs)
    return model


@register("sid_sasrec", needs=lambda cfg: Needs(sid=True, codebooks=cfg.sid.init == "codebooks"))
def _sid_sasrec(cfg: TrainConfig, inputs: ModelInputs) -> SequentialRecommender:
    from h2rec.models.sid_sasrec import SIDSASRec

    sid, n = inputs.sid, inputs.data.n_items
    codebooks = sid.codebooks if cfg.sid.init == "codebooks" else None
    return SIDSASRec(
        n, sid.codes, sid.cardinalities, cfg.backbone, cfg.sid, make_loss(cfg, n, inputs.data.train_count), codebooks=codebooks
    )


@register(
    "h2rec",
    needs=lambda cfg: Needs(
        sid=True,
        codebooks=cfg.sid.init == "codebooks",
        text=cfg.hid.init != "random",
        cooccurrence=cfg.h2rec.code_cooccurrence > 0,
    ),
)
def _h2rec(cfg: TrainConfig, inputs: ModelInputs) -> SequentialRecommender:
    from h2rec.models.h2rec import H2Rec, make_h2rec

    hc, data = cfg.h2rec, inputs.data
    if cfg.sid.pooling == "concat":
        raise ConfigError("train.sid.pooling: 'concat' is for sid_sasrec only; h2rec pools SID levels by mean or sum")
    sid = inputs.sid if hc.dedup_level else inputs.sid.without_dedup()
    quantized = sid.levels - 1 if sid.dedup else None  # a dedup level read as the finest level
    cooc = inputs.cooccurrence if hc.code_cooccurrence > 0 else None
    model = make_h2rec(
        data.n_items,
        sid.codes,
        list(sid.cardinalities),
        cfg.backbone,
        hc,
        make_loss(cfg, data.n_items, data.train_count),
        pooling=cfg.sid.pooling,
        train_count=data.train_count,
        cooccurrence=cooc,
        quantized_levels=quantized,
    )
    is_h2rec = isinstance(model, H2Rec)  # branches: hid composes a plain SASRec
    if cfg.sid.init == "codebooks" and sid.codebooks is not None and is_h2rec:
        model.sid.init_from_codebooks(sid.codebooks)
    _init_hid(model.hid if is_h2rec else model.items, cfg, inputs)
    return model


@register(
    "llm_esr", needs=lambda cfg: Needs(text=True), rebuild=lambda cfg: Needs(text=True)
)  # the frozen text view is structure
def _llm_esr(cfg: TrainConfig, inputs: ModelInputs) -> SequentialRecommender:
    from h2rec.models.llm_esr import LLMESR, user_neighbours

    if inputs.text_embeddings is None:
        raise ConfigError("train.model 'llm_esr' needs the item text embeddings (data/features); run `h2rec embed` first")
    data, text = inputs.data, inputs.text_embeddings
    neighbours = user_neighbours(data, text, cfg.llm_esr.neighbours)
    return LLMESR(
        data.n_items,
        text,
        cfg.backbone,
        make_loss(cfg, data.n_items, data.train_count),
        neighbours,
        data,
        cfg.llm_esr.alpha,
        cfg.backbone.max_len,
        cfg.padding,
    )


@register("pop")
def _pop(cfg: TrainConfig, inputs: ModelInputs) -> SequentialRecommender:
    from h2rec.models.pop import Popularity

    return Popularity(inputs.data.train_count)
