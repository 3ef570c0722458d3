"""params.yaml sections `train` and `evaluate`.

Kept free of torch so that loading params stays fast. `TrainConfig.model` names an entry of
`h2rec.models.registry`; it is checked when the model is built, so a new model only has to
register itself (and add its own sub-section here if it has options).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from h2rec.models.h2rec_config import H2RecConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackboneConfig(_Section):
    """The SASRec transformer shared by every sequence model."""

    max_len: int = Field(50, ge=1)  # last items of a history the model reads
    hidden: int = Field(64, ge=1)
    layers: int = Field(2, ge=1)
    heads: int = Field(1, ge=1)
    ffn: int = Field(256, ge=1)  # inner size of the feed-forward layer
    dropout: float = Field(0.5, ge=0.0, lt=1.0)  # embeddings and hidden states
    attn_dropout: float = Field(0.5, ge=0.0, lt=1.0)  # attention weights
    norm_first: bool = False  # pre-LN blocks (True) or the original post-LN (False)
    activation: Literal["gelu", "relu"] = "gelu"


class SidModelConfig(_Section):
    """How `sid_sasrec` turns an item's Semantic ID into a vector."""

    fusion: Literal["mean", "sum", "concat"] = "mean"
    init_from_codebooks: bool = False  # PCA of the quantizer's codebooks as initial code vectors


class TrackingConfig(_Section):
    enabled: bool = True
    experiment: str = "h2rec"


class TrainConfig(_Section):
    model: str = "sasrec"
    loss: Literal["ce", "bce", "sampled_softmax"] = "ce"
    bce_negatives: int = Field(1, ge=1)  # negatives per position for `bce`
    softmax_negatives: int = Field(1024, ge=1)  # shared uniform negatives per batch, `sampled_softmax`
    padding: Literal["left", "right"] = "right"
    seed: int = 42
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    grad_clip: float = Field(0.0, ge=0.0)  # max gradient norm; 0 = no clipping
    epochs: int = Field(200, ge=0)
    patience: int = Field(10, ge=1)  # epochs without a better validation NDCG@10 before stopping
    eval_batch_size: int = Field(1024, ge=1)
    num_threads: int = Field(1, ge=1)  # more only on a machine with idle cores (docs/harness.md)
    progress: bool = True
    backbone: BackboneConfig = BackboneConfig()
    sid: SidModelConfig = SidModelConfig()
    tracking: TrackingConfig = TrackingConfig()
    h2rec: H2RecConfig = H2RecConfig()  # options of the `h2rec` model


# Keys that change how a training runs but not what it learns: a checkpoint written under
# other values of these may still be resumed.
RUNTIME_KEYS = frozenset({"epochs", "patience", "eval_batch_size", "num_threads", "progress", "tracking"})


class EvaluateConfig(_Section):
    split: Literal["test", "valid"] = "test"
    ks: list[int] = [5, 10, 20]
    sampled_negatives: int = Field(100, ge=1)  # negatives per user for the sampled protocol
    negative_sampling: Literal["uniform", "popularity"] = "uniform"
    seed: int = 2024  # fixes the sampled negatives and the order among tied scores
    user_batch: int = Field(1024, ge=1)
    item_chunk: int = Field(32_768, ge=1)  # catalogue items scored at once; memory ~ user_batch x item_chunk
    num_threads: int = Field(1, ge=1)
    log_model: bool = True  # also log the model to MLflow (mlflow.pytorch, pickle format)
