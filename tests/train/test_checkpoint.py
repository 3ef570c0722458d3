"""Checkpoints keep meaning what they were trained with when a default changes later."""

import json
from pathlib import Path

import pytest

from h2rec.config import TrainConfig
from h2rec.errors import ConfigError
from h2rec.train import checkpoint


def _written_before_the_keys() -> dict:
    """A stored config as a version without hid/sid.init and logit_adjustment wrote it."""
    raw = TrainConfig().model_dump(mode="json")
    raw.pop("logit_adjustment")
    raw.pop("softmax_sampling")
    raw["hid"].pop("init")
    raw["sid"].pop("init")
    return raw


def test_a_key_missing_from_an_old_checkpoint_reads_at_the_value_it_trained_with():
    assert TrainConfig().hid.init != "random"  # today's default differs from the old behaviour
    cfg = checkpoint.stored_config(_written_before_the_keys())
    assert (cfg.hid.init, cfg.sid.init, cfg.logit_adjustment) == ("random", "random", 0.0)
    assert cfg.softmax_sampling == "batch"
    # ... while a key the checkpoint does store wins over the old value
    raw = {**_written_before_the_keys(), "logit_adjustment": 0.5}
    assert checkpoint.stored_config(raw).logit_adjustment == 0.5


def test_identity_of_an_old_checkpoint_matches_its_model_and_not_todays_defaults():
    ckpt = {"identity": json.dumps({"config": _written_before_the_keys(), "data": "d", "sid": None})}
    old = checkpoint.stored_config(_written_before_the_keys())
    checkpoint.check_identity(ckpt, checkpoint.identity(old, "d", None), Path("best.pt"))
    with pytest.raises(ConfigError, match="logit_adjustment: checkpoint 0.0, now 0.25"):
        checkpoint.check_identity(ckpt, checkpoint.identity(TrainConfig(), "d", None), Path("best.pt"))
