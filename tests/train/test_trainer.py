import pickle

import numpy as np
import pytest
import torch

from h2rec.config import BackboneConfig, EvaluateConfig, PreprocessConfig, ScientificSource, SelectionConfig, TrainConfig
from h2rec.data.adapters import load_source
from h2rec.data.sequences import SeqDataset
from h2rec.data.split import prepare
from h2rec.errors import ConfigError, DataError
from h2rec.eval.evaluator import Evaluator
from h2rec.models.inputs import ModelInputs
from h2rec.models.registry import build_model, make_loss
from h2rec.models.sasrec import SASRec
from h2rec.train import checkpoint
from h2rec.train.trainer import Trainer, seed_everything
from tests.conftest import write_scientific_slice
from tests.train.toy import frames, patterned_sequences

torch.set_num_threads(1)
SMALL = BackboneConfig(max_len=10, hidden=16, layers=1, heads=1, ffn=32, dropout=0.3, attn_dropout=0.3)


def toy():
    return SeqDataset.from_frames(*frames(patterned_sequences(60, 30, seed=0), n_items=30))


def trainer(data, out, cfg=None, seed=0) -> Trainer:
    cfg = cfg or TrainConfig(model="sasrec", epochs=3, batch_size=16, progress=False, backbone=SMALL)
    seed_everything(seed)
    model = build_model(cfg, ModelInputs(data))
    return Trainer(model, data, cfg, out, checkpoint.identity(cfg, data.signature(), None))


def test_short_training_on_real_data_lowers_the_loss_and_beats_popularity(tmp_path):
    paths = write_scientific_slice(tmp_path / "slice", n_users=1500)
    p = prepare(*load_source(ScientificSource(interactions=paths[0], items=paths[1])), PreprocessConfig(k_core=3))
    data = SeqDataset.from_frames(p.interactions, p.items, p.users)
    cfg = TrainConfig(
        model="sasrec",
        epochs=8,
        lr=3e-3,
        batch_size=128,
        progress=False,
        backbone=BackboneConfig(max_len=20, hidden=32, ffn=64, dropout=0.2, attn_dropout=0.2),
    )
    state = trainer(data, tmp_path / "ck", cfg).fit()
    losses = [h["loss/rec"] for h in state.history]
    assert losses[-1] < losses[0] - 0.5
    model = build_model(cfg, ModelInputs(data))
    model.load_state_dict(checkpoint.load(tmp_path / "ck" / checkpoint.BEST)["model"])
    pop = build_model(TrainConfig(model="pop"), ModelInputs(data))
    ev = Evaluator(data, EvaluateConfig())
    ours = ev.evaluate(model, "test", 20, "right", ("full",))
    base = ev.evaluate(pop, "test", 20, "right", ("full",))
    assert ours["full/overall/ndcg_10"] > 1.5 * base["full/overall/ndcg_10"]
    assert ours["full/overall/hr_10"] > base["full/overall/hr_10"]


class Interrupt(Exception):
    pass


def test_resume_after_an_interrupted_epoch_gives_the_uninterrupted_result(tmp_path, monkeypatch):
    data = toy()
    straight = trainer(data, tmp_path / "a")
    straight.fit()

    first = trainer(data, tmp_path / "b")
    first.fit(max_epochs=1)
    calls = {"n": 0}
    real = first.model.calculate_loss

    def dies_midway(batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Interrupt
        return real(batch)

    monkeypatch.setattr(first.model, "calculate_loss", dies_midway)
    with pytest.raises(Interrupt):
        first.fit()  # epoch 2 dies after one optimizer step
    assert checkpoint.load(tmp_path / "b" / checkpoint.LAST)["model"] is not None

    resumed = trainer(data, tmp_path / "b", seed=123)  # other init: the checkpoint must win
    state = resumed.fit(resume=True)
    assert state.epoch == 3 and [h["epoch"] for h in state.history] == [1, 2, 3]
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert [h["loss/rec"] for h in state.history] == [h["loss/rec"] for h in straight.state.history]


def test_a_checkpoint_from_another_config_is_refused(tmp_path):
    data = toy()
    trainer(data, tmp_path).fit(max_epochs=1)
    other = TrainConfig(
        model="sasrec", epochs=3, batch_size=16, progress=False, backbone=SMALL.model_copy(update={"hidden": 32, "ffn": 64})
    )
    with pytest.raises(ConfigError, match=r"another configuration.*backbone\.hidden: checkpoint 16, now 32"):
        trainer(data, tmp_path, other).fit(resume=True)
    more_epochs = TrainConfig(model="sasrec", epochs=5, batch_size=16, progress=False, backbone=SMALL)  # runtime key: fine
    assert trainer(data, tmp_path, more_epochs).fit(resume=True, max_epochs=1).epoch == 2


def test_a_checkpoint_from_other_data_is_refused(tmp_path):
    trainer(toy(), tmp_path).fit(max_epochs=1)
    other = SeqDataset.from_frames(*frames(patterned_sequences(60, 30, seed=1), n_items=30))
    with pytest.raises(ConfigError, match="data: checkpoint"):
        trainer(other, tmp_path).fit(resume=True)


def test_early_stopping_keeps_the_best_epoch(tmp_path, monkeypatch):
    cfg = TrainConfig(model="sasrec", epochs=20, patience=2, min_epochs=0, batch_size=16, progress=False, backbone=SMALL)
    t = trainer(toy(), tmp_path, cfg)
    scores = iter([0.1, 0.3, 0.2, 0.25, 0.5])
    monkeypatch.setattr(t.evaluator, "evaluate", lambda *a, **k: {"full/overall/ndcg_10": next(scores)})
    state = t.fit()
    assert (state.epoch, state.best_epoch, state.best_score, state.finished) == (4, 2, 0.3, True)
    assert checkpoint.load(tmp_path / checkpoint.BEST)["epoch"] == 2


def test_selection_weighs_the_groups_that_pick_the_best_epoch(tmp_path, monkeypatch):
    cfg = TrainConfig(model="sasrec", epochs=3, min_epochs=0, batch_size=16, progress=False, backbone=SMALL)
    epochs = iter([(0.30, 0.10), (0.32, 0.05), (0.25, 0.20)])  # (overall, tail) validation NDCG@10

    def evaluate(*a, **k):
        overall, tail = next(epochs)
        return {"full/overall/ndcg_10": overall, "full/head/ndcg_10": 2 * overall - tail, "full/tail/ndcg_10": tail}

    plain = trainer(toy(), tmp_path / "plain", cfg)
    monkeypatch.setattr(plain.evaluator, "evaluate", evaluate)
    assert plain.fit().best_epoch == 2
    epochs = iter([(0.30, 0.10), (0.32, 0.05), (0.25, 0.20)])
    tail = trainer(toy(), tmp_path / "tail", cfg.model_copy(update={"selection": SelectionConfig(overall=0.0, tail=1.0)}))
    monkeypatch.setattr(tail.evaluator, "evaluate", evaluate)
    state = tail.fit()
    assert (state.best_epoch, state.best_score, state.best_ndcg_10) == (3, 0.20, 0.25)
    assert [h["valid/selection"] for h in state.history] == [0.10, 0.05, 0.20]


def test_min_epochs_hold_off_early_stopping(tmp_path, monkeypatch):
    cfg = TrainConfig(model="sasrec", epochs=20, patience=2, min_epochs=6, batch_size=16, progress=False, backbone=SMALL)
    t = trainer(toy(), tmp_path, cfg)
    scores = iter([0.1, 0.3, 0.2, 0.25, 0.2, 0.28, 0.27, 0.5])
    monkeypatch.setattr(t.evaluator, "evaluate", lambda *a, **k: {"full/overall/ndcg_10": next(scores)})
    state = t.fit()
    assert (state.epoch, state.best_epoch, state.finished) == (6, 2, True)  # patience ran out at 4, stop waited for 6


def test_windows_train_on_every_target_of_long_histories(tmp_path):
    data = toy()
    last = trainer(
        data,
        tmp_path / "last",
        TrainConfig(model="sasrec", epochs=1, window_stride=None, batch_size=16, progress=False, backbone=SMALL),
    ).windows
    cfg = TrainConfig(model="sasrec", epochs=1, window_stride="max_len", batch_size=16, progress=False, backbone=SMALL)
    t = trainer(data, tmp_path / "all", cfg)
    users, ends = t.windows
    assert len(users) > len(last[0])  # long toy histories get earlier windows
    assert data.n_train_positions(10, 10) == int((data.n_train[data.train_users()] - 1).sum())
    t.fit()  # trains on them without error
    assert t.state.epoch == 1


def test_checkpoints_are_read_weights_only(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("unpickled!",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"model": Evil()}))
    with pytest.raises(DataError, match="not a readable h2rec checkpoint"):
        checkpoint.load(path)
    with pytest.raises(DataError, match="no checkpoint"):
        checkpoint.load(tmp_path / "missing.pt")


def test_popularity_is_saved_without_a_training_loop(tmp_path):
    data = toy()
    state = trainer(data, tmp_path, TrainConfig(model="pop", progress=False)).fit()
    assert state.history == [] and state.finished
    assert "counts" in checkpoint.load(tmp_path / checkpoint.BEST)["model"]


def test_a_stop_between_the_two_checkpoint_writes_keeps_best_pt_named_by_the_state(tmp_path, monkeypatch):
    # Epoch 2 improves and the run dies while writing its second checkpoint. The resumed run's
    # validation scores lower (as a non-deterministic GPU rerun may): best.pt must still hold
    # the weights of the state's best epoch.
    cfg = TrainConfig(model="sasrec", epochs=3, batch_size=16, progress=False, backbone=SMALL)
    data = toy()
    first = trainer(data, tmp_path, cfg)
    scores = iter([0.1, 0.3])
    monkeypatch.setattr(first.evaluator, "evaluate", lambda *a, **k: {"full/overall/ndcg_10": next(scores)})
    real_save, writes = checkpoint.save, []

    def dies_on_the_fourth_write(path, payload):
        writes.append(path.name)
        if len(writes) == 4:
            raise Interrupt
        real_save(path, payload)

    monkeypatch.setattr(checkpoint, "save", dies_on_the_fourth_write)
    with pytest.raises(Interrupt):
        first.fit()
    monkeypatch.setattr(checkpoint, "save", real_save)
    on_disk = checkpoint.load(tmp_path / checkpoint.LAST)

    resumed = trainer(data, tmp_path, cfg)
    lower = iter([0.05, 0.04])
    monkeypatch.setattr(resumed.evaluator, "evaluate", lambda *a, **k: {"full/overall/ndcg_10": next(lower)})
    state = resumed.fit(resume=True)
    best = checkpoint.load(tmp_path / checkpoint.BEST)
    assert state.best_epoch == 2 and best["epoch"] == 2
    for name, value in on_disk["model"].items():  # epoch 2's weights, as last.pt held them
        assert torch.equal(value, best["model"][name]), name


def test_per_epoch_validation_breaks_ties_with_the_given_seed(tmp_path):
    data = toy()
    cfg = TrainConfig(model="sasrec", epochs=1, batch_size=16, progress=False, backbone=SMALL)
    model = build_model(cfg, ModelInputs(data))
    t = Trainer(model, data, cfg, tmp_path, checkpoint.identity(cfg, data.signature(), None), tie_seed=7)
    assert torch.equal(t.evaluator.prio, Evaluator(data, EvaluateConfig(seed=7)).prio)
    assert not torch.equal(t.evaluator.prio, Evaluator(data, EvaluateConfig()).prio)


def test_weight_decay_leaves_the_frozen_rows_of_unseen_items_as_they_were(tmp_path):
    data = toy()
    cfg = TrainConfig(model="sasrec", epochs=2, batch_size=16, weight_decay=0.5, progress=False, backbone=SMALL)
    frozen = np.zeros(data.n_items + 1, bool)
    frozen[[5, 17]] = True  # as if absent from training
    seed_everything(0)
    model = SASRec(data.n_items, SMALL, make_loss(cfg, data.n_items, data.train_count), frozen)
    before = model.items.weight.detach().clone()
    Trainer(model, data, cfg, tmp_path, checkpoint.identity(cfg, data.signature(), None)).fit()
    after = model.items.weight.detach()
    assert torch.equal(after[[5, 17]], before[[5, 17]])
    assert not torch.allclose(after[[4, 6]], before[[4, 6]])
