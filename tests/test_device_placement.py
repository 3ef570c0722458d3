"""Every tensor is created on the device of the tensors it meets: checked without a GPU.

Inside `torch.device("meta")` every factory call that names no device (torch.arange, eye,
zeros, randint, randperm, tensor, ...) makes a *meta* tensor, while the model, its batch and
everything derived from them stay on the CPU. An operation that mixes the two fails, exactly
where a model on a GPU would meet a tensor made on the host. So forward, backward and scoring
of every registered model, every loss and the evaluator run here under that mode: a pass means
no tensor was created on a default device next to the model's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from h2rec.config import BackboneConfig, EvaluateConfig, H2RecConfig, HidConfig, SidConfig, TrainConfig
from h2rec.eval.evaluator import Evaluator
from h2rec.eval.level_gate import mean_level_gate
from h2rec.models.inputs import ModelInputs
from h2rec.models.registry import MODELS, build_model
from h2rec.sid.table import SidTable
from tests.train.toy import frames, random_sequences

N_ITEMS = 40
SMALL = BackboneConfig(max_len=12, hidden=16, layers=1, heads=2, ffn=32, dropout=0.2, attn_dropout=0.2)


def wrong_device():
    """Where tensors created without a device go: not the model's device."""
    return torch.device("meta")


@pytest.fixture(scope="module")
def inputs() -> ModelInputs:
    from h2rec.data.sequences import SeqDataset

    seqs = random_sequences(30, N_ITEMS, seed=3, min_len=4, max_len=14)
    data = SeqDataset.from_frames(*frames(seqs, N_ITEMS))
    rng = np.random.default_rng(0)
    cards = [6, 5, 4]
    codes = np.concatenate([np.full((1, 3), -1), np.stack([rng.integers(0, k, N_ITEMS) for k in cards], 1)])
    books = [rng.normal(size=(k, 24)).astype(np.float32) for k in cards]
    text = rng.normal(size=(N_ITEMS, 24)).astype(np.float32)
    neighbours = rng.integers(0, N_ITEMS + 1, (N_ITEMS + 1, 3))
    cooc = (neighbours, rng.random((N_ITEMS + 1, 3)).astype(np.float32))
    return ModelInputs(data, SidTable(codes, cards, books), text, cooc)


CONFIGS = {
    "sasrec": {},
    "sasrec-pca": {"hid": HidConfig(init="pca")},
    "sid_sasrec": {},
    "sid_sasrec-concat": {"sid": SidConfig(pooling="concat", init="codebooks")},
    "h2rec": {"h2rec": H2RecConfig(mask_users=4, code_max_items=8)},
    "h2rec-sid": {"h2rec": H2RecConfig(branches="sid")},
    "h2rec-hid": {"h2rec": H2RecConfig(branches="hid")},
    "h2rec-none": {"h2rec": H2RecConfig(interaction="none", gate="mean", shared_backbone=False)},
    "h2rec-sum": {"h2rec": H2RecConfig(interaction="sum", cold_hid="sid")},
    "h2rec-cooc": {"h2rec": H2RecConfig(code_cooccurrence=0.5, gate="prior"), "sid": SidConfig(init="codebooks")},
    "llm_esr": {},
    "pop": {},
}


BACKBONE_CONFIGS = {"h2rec-gru4rec": "gru4rec", "h2rec-bert4rec": "bert4rec", "sasrec-bert4rec": "bert4rec"}
CONFIGS |= {name: {} for name in BACKBONE_CONFIGS}


def config(name: str, loss: str = "ce") -> TrainConfig:
    model = name.split("-")[0]
    backbone = SMALL.model_copy(update={"kind": BACKBONE_CONFIGS[name]}) if name in BACKBONE_CONFIGS else SMALL
    la = {} if loss == "ce" else {"logit_adjustment": 0.0}  # the default's correction is for the full softmax
    return TrainConfig(model=model, loss=loss, backbone=backbone, bce_negatives=2, softmax_negatives=16, **la, **CONFIGS[name])


def test_every_registered_model_is_covered():
    assert {name.split("-")[0] for name in CONFIGS} == set(MODELS)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_forward_backward_and_scoring_create_nothing_off_device(name, inputs):
    torch.manual_seed(0)
    model = build_model(config(name), inputs)
    data = inputs.data
    batch = data.train_batch(data.train_users()[:8], SMALL.max_len, "right")
    with wrong_device():
        model.train()
        loss, terms = model.calculate_loss(batch)
        if loss.requires_grad:
            loss.backward()
        model.eval()
        scores = model.full_sort_predict(data.eval_batch(np.arange(5), "test", SMALL.max_len, "left"))
        assert scores.device == torch.device("cpu") and torch.isfinite(scores[:, 1:]).all()
        Evaluator(data, EvaluateConfig(sampled_negatives=10, user_batch=7, item_chunk=9)).cases(
            model, "test", SMALL.max_len, "right"
        )
        mean_level_gate(model, data, "test", SMALL.max_len, "left", user_batch=7)
    assert all(t.device == torch.device("cpu") for t in terms.values())


@pytest.mark.parametrize("loss", ["ce", "bce", "sampled_softmax"])
def test_every_loss_creates_nothing_off_device(loss, inputs):
    torch.manual_seed(0)
    model = build_model(config("sasrec", loss), inputs)
    batch = inputs.data.train_batch(inputs.data.train_users()[:8], SMALL.max_len, "left")
    with wrong_device():
        model.calculate_loss(batch)[0].backward()


def test_new_items_are_added_on_the_models_device(inputs):
    model = build_model(config("h2rec"), inputs).eval()
    with wrong_device():
        model.add_items(np.array([[0, 1, 2], [5, 4, 3]]))
        model.full_sort_predict(inputs.data.eval_batch(np.arange(3), "test", SMALL.max_len, "right"))


def test_the_mode_catches_a_tensor_created_without_a_device():
    x = torch.randn(3, 4)
    with wrong_device(), pytest.raises(RuntimeError, match="meta"):
        _ = x + torch.ones(4)  # what `torch.ones(4)` next to a CUDA tensor would do on a GPU
    with wrong_device():
        _ = x + torch.ones(4, device=x.device)  # the correct form passes
