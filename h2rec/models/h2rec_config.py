"""params.yaml section `train.h2rec`: H2Rec's options, one switch per component.

Kept free of torch (it is imported by `h2rec.train.config`). Every ablation of the method is
a setting here, never a code branch elsewhere:

    branches: hid                 HID-only (plain SASRec)
    branches: sid                 SID-only SASRec
    fusion: sum                   naive sum of SID and HID item vectors, one sequence
    fusion: none                  both branches side by side, no cross-attention
    gate: mean                    no gate: levels mixed by a plain mean
    lambda_item: 0                no item-level code alignment (L_code)
    lambda_user: 0                no user-level masked granularity loss (L_mask)
    shared_backbone: false        separate transformers for the two branches
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CooccurrenceConfig(_Section):
    """The `cooccurrence` stage: PPMI between items close to each other in training sequences."""

    window: int = Field(3, ge=1)  # items at most this many positions apart co-occur
    min_count: int = Field(2, ge=1)  # rarer pairs are dropped: one chance meeting of two rare items has the highest PMI of all
    top_k: int = Field(20, ge=1)  # strongest neighbours kept per item


class H2RecConfig(_Section):
    # -- architecture ---------------------------------------------------------------------
    branches: Literal["both", "hid", "sid"] = "both"
    fusion: Literal["cross", "none", "sum"] = "cross"
    gate: Literal["learned", "prior", "mean"] = "learned"  # prior = the fixed prior alone, no MLP
    gate_hidden: int = Field(64, ge=1)
    prior_coarse: float = 1.0  # gate prior of the coarsest level ...
    prior_fine: float = 0.2  # ... falling linearly to the finest
    level_fusion: Literal["mean", "sum"] = "mean"  # an item's SID vector from its level vectors
    shared_backbone: bool = True
    hid_init: Literal["random", "pca"] = "random"  # pca: PCA of the item text embeddings
    sid_init: Literal["random", "codebooks"] = "random"  # codebooks: PCA of the quantizer's codebooks
    dedup_level: bool = False  # read the tokenizer's dedup code as one more (finest) SID level
    freeze_cold_hid: bool = True  # items absent from training keep their initial HID vector
    cold_hid: Literal["init", "sid"] = "init"  # HID part of those items at inference: initial vector, or predicted from the SID vector
    # -- losses -----------------------------------------------------------------------------
    lambda_item: float = Field(0.1, ge=0.0)  # weight of L_code
    lambda_user: float = Field(0.1, ge=0.0)  # weight of L_mask
    code_temperature: float = Field(0.5, gt=0.0)
    code_same_tuple: bool = True  # items with the same full SID tuple are positives of each other
    code_cooccurrence: float = Field(0.0, ge=0.0, le=1.0)  # weight of PPMI positives; > 0 needs `h2rec cooccurrence`
    code_max_items: int = Field(512, ge=2)  # distinct target items per batch in L_code, drawn at random (cost ~ n^2)
    mask_share: float = Field(0.5, gt=0.0, lt=1.0)  # share of SID levels masked (at least one)
    mask_temperature: float = Field(1.0, gt=0.0)
    mask_users: int = Field(64, ge=0)  # users per batch re-encoded for L_mask (0 = all): the second pass is costly
    cooccurrence: CooccurrenceConfig = CooccurrenceConfig()
