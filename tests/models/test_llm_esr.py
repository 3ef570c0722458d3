"""LLM-ESR: user neighbours against a plain loop, the frozen text view, and a training step."""

from __future__ import annotations

import numpy as np
import torch

from h2rec.config import BackboneConfig, LLMESRConfig, TrainConfig
from h2rec.data.sequences import SeqDataset
from h2rec.models.inputs import ModelInputs
from h2rec.models.llm_esr import user_neighbours
from h2rec.models.registry import build_model
from h2rec.train import checkpoint
from h2rec.train.trainer import Trainer, seed_everything
from tests.train.toy import frames, patterned_sequences

BACKBONE = BackboneConfig(max_len=12, hidden=16, layers=1, heads=2, ffn=32, dropout=0.0, attn_dropout=0.0)


def toy():
    data = SeqDataset.from_frames(*frames(patterned_sequences(40, 30, seed=0), n_items=30))
    text = np.random.default_rng(0).standard_normal((data.n_items, 24)).astype(np.float32)
    return data, text / np.linalg.norm(text, axis=1, keepdims=True)


def test_neighbours_are_the_most_similar_text_profiles():
    data, text = toy()
    got = user_neighbours(data, text, k=3, chunk=7)  # chunks smaller than the user count
    for u in range(data.n_users):
        start = data.offsets[u]
        profiles = np.stack(
            [text[data.flat[data.offsets[v] : data.offsets[v] + data.n_train[v]] - 1].sum(0) for v in range(data.n_users)]
        )
        profiles /= np.linalg.norm(profiles, axis=1, keepdims=True)
        sim = profiles @ profiles[u]
        sim[u] = -np.inf
        assert set(got[u]) == set(np.argsort(-sim)[:3]), u
        assert u not in got[u] and start >= 0


def test_llm_esr_trains_with_a_frozen_text_view_and_distils():
    data, text = toy()
    torch.manual_seed(0)
    cfg = TrainConfig(model="llm_esr", backbone=BACKBONE, llm_esr=LLMESRConfig(alpha=0.5, neighbours=2))
    model = build_model(cfg, ModelInputs(data, text_embeddings=text))
    # the ID view starts from the text PCA, the text itself is a buffer (never trained)
    assert "sem.text" not in dict(model.named_parameters()) and model.sem.text.shape == (data.n_items + 1, 24)
    batch = data.train_batch(data.train_users()[:16], 12, "right")
    loss, terms = model.train().calculate_loss(batch)
    assert set(terms) == {"rec", "distill"} and terms["distill"] > 0
    loss.backward()
    assert model.col.emb.weight.grad is not None and model.sem.mlp[0].weight.grad is not None
    scores = model.eval().full_sort_predict(data.eval_batch(np.arange(4), "test", 12, "left"))
    assert scores.shape == (4, data.n_items + 1) and torch.isfinite(scores[:, 1:]).all()
    no_distill = build_model(cfg.model_copy(update={"llm_esr": LLMESRConfig(alpha=0.0)}), ModelInputs(data, text_embeddings=text))
    assert set(no_distill.calculate_loss(batch)[1]) == {"rec"}


def test_teacher_states_in_length_sorted_chunks_equal_one_padded_batch():
    data, text = toy()
    torch.manual_seed(0)
    cfg = TrainConfig(model="llm_esr", backbone=BACKBONE, llm_esr=LLMESRConfig(alpha=0.5, neighbours=2))
    model = build_model(cfg, ModelInputs(data, text_embeddings=text)).eval()
    users = np.random.default_rng(1).integers(0, data.n_users, 37)  # repeats, random lengths
    with torch.no_grad():
        chunked = model.last_states(users, chunk=5)
        plain = model.encode(data.eval_batch(users, "valid", 12, "right"))
    assert chunked.shape == (37, 32) and torch.allclose(chunked, plain, atol=1e-5)


def test_teacher_states_are_cached_within_an_epoch_and_renewed_by_the_next():
    data, text = toy()
    torch.manual_seed(0)
    cfg = TrainConfig(model="llm_esr", backbone=BACKBONE, llm_esr=LLMESRConfig(alpha=0.5, neighbours=2))
    model = build_model(cfg, ModelInputs(data, text_embeddings=text)).train()
    batch = data.train_batch(data.train_users()[:16], 12, "right")
    model.begin_epoch()
    model.calculate_loss(batch)
    first = model._teacher
    with torch.no_grad():
        assert torch.allclose(
            first, model.eval().encode(data.eval_batch(np.arange(data.n_users), "valid", 12, "right")), atol=1e-5
        )
    model.train()
    with torch.no_grad():
        model.col.emb.weight.add_(0.1)
    for _ in range(4):  # more rows than users: still the same epoch, the cache stays
        model.calculate_loss(batch)
    assert model._teacher is first
    model.begin_epoch()
    model.calculate_loss(batch)  # a new epoch: recomputed with the changed weights
    assert model._teacher is not first and not torch.allclose(model._teacher, first)


def test_a_resumed_llm_esr_training_repeats_the_uninterrupted_one(tmp_path):
    # window_stride 3 gives more training windows than users, so an epoch is not "one pass
    # over the users": the teacher must follow the epoch for the resume to be exact.
    data, text = toy()
    cfg = TrainConfig(
        model="llm_esr",
        epochs=3,
        batch_size=16,
        progress=False,
        window_stride=3,
        backbone=BACKBONE.model_copy(update={"max_len": 6, "dropout": 0.2}),
        llm_esr=LLMESRConfig(alpha=0.5, neighbours=2),
    )
    assert len(data.train_windows(6, 3)[0]) > 1.5 * data.n_users

    def trainer(out):
        seed_everything(cfg.seed)
        model = build_model(cfg, ModelInputs(data, text_embeddings=text))
        return Trainer(model, data, cfg, out, checkpoint.identity(cfg, data.signature(), None))

    straight = trainer(tmp_path / "a")
    straight.fit()
    trainer(tmp_path / "b").fit(max_epochs=1)
    resumed = trainer(tmp_path / "b")  # a fresh process: no cached teacher
    resumed.fit(resume=True)
    assert [h["loss/distill"] for h in resumed.state.history] == [h["loss/distill"] for h in straight.state.history]
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name


def test_distillation_is_the_mean_squared_error_to_the_neighbours_mean_state():
    data, text = toy()
    torch.manual_seed(0)
    alpha = 0.5
    cfg = TrainConfig(model="llm_esr", backbone=BACKBONE, llm_esr=LLMESRConfig(alpha=alpha, neighbours=2))
    model = build_model(cfg, ModelInputs(data, text_embeddings=text)).eval()  # no dropout: states repeat
    users = data.train_users()[:16]
    batch = data.train_batch(users, 12, "right")
    with torch.no_grad():
        _, terms = model.calculate_loss(batch)
        student = model.sequence_states(batch)[torch.arange(len(users)), batch.last]  # (16, 2d) after the last input
        everyone = model.encode(data.eval_batch(np.arange(data.n_users), "valid", 12, "right"))  # (U, 2d)
        teacher = everyone[model.neighbours[torch.as_tensor(users)]].mean(1)  # (16, 2d)
    expected = alpha * torch.nn.functional.mse_loss(student, teacher)  # mean over users and elements
    assert torch.allclose(terms["distill"], expected, rtol=1e-4), (terms["distill"], expected)
