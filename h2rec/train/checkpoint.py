"""Checkpoints: written atomically, read with `weights_only=True`, tied to their config.

A checkpoint stores an identity: the part of the train config that defines the model (runtime
keys such as epochs or threads excluded), the data signature and the Semantic ID signature.
Resuming or evaluating with a different identity is refused, naming what differs, instead of
silently loading weights into a model they were not trained for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from h2rec.config import RUNTIME_KEYS, TrainConfig, merge
from h2rec.errors import ConfigError, DataError
from h2rec.io import atomic_path

LAST, BEST = "last.pt", "best.pt"

# Keys whose default changed after checkpoints were written without them, at the value such a
# checkpoint was trained with: a stored config is read over these, then over today's defaults.
BEFORE_THE_KEY: dict[str, Any] = {
    "hid": {"init": "random"},
    "sid": {"init": "random"},
    "logit_adjustment": 0.0,
    "softmax_sampling": "batch",
}


def stored_config(raw: dict[str, Any]) -> TrainConfig:
    """The train config a checkpoint was written with (raises pydantic's ValidationError)."""
    return TrainConfig.model_validate(merge(BEFORE_THE_KEY, raw))


def identity(cfg: TrainConfig, data_signature: str, sid_signature: str | None) -> dict[str, Any]:
    config = {k: v for k, v in cfg.model_dump(mode="json").items() if k not in RUNTIME_KEYS}
    return {"config": config, "data": data_signature, "sid": sid_signature}


def save(path: Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise DataError(f"{path}: no checkpoint; run `h2rec train` first")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, foreign pickle, ...
        raise DataError(f"{path}: not a readable h2rec checkpoint: {e}") from None


def check_identity(ckpt: dict[str, Any], expected: dict[str, Any], path: Path) -> None:
    """Raise ConfigError listing every key that differs between the checkpoint and now.

    The checkpoint's configuration is read through today's schema first, so a key added
    since it was written counts at the value it was trained with (`stored_config`).
    """
    found = json.loads(ckpt["identity"])
    try:
        found["config"] = identity(stored_config(found["config"]), found["data"], found["sid"])["config"]
    except ValidationError as e:
        raise ConfigError(
            f"{path}: checkpoint written with settings this version no longer reads ({e.errors()[0]['loc']})"
        ) from None
    diffs = _differences(found, expected)
    if diffs:
        shown = "; ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, a, b in diffs[:8])
        raise ConfigError(
            f"{path}: checkpoint was written for another configuration ({shown}). "
            "Restore those settings, or train from scratch without --resume."
        )


def _differences(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _differences(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
        return out
    return [] if a == b else [(prefix, a, b)]
