"""Backbones: each against a plain reference, causality and padding invariance."""

from __future__ import annotations

import pytest
import torch

from h2rec.config import BackboneConfig
from h2rec.models.backbone import BACKBONES, GRU4RecEncoder, make_backbone

CFG = dict(max_len=12, hidden=8, layers=2, heads=2, ffn=16, dropout=0.0, attn_dropout=0.0)


def rows(lengths, T, padding, seed=0):
    """(B, T, d) vectors and (B, T) mask with rows of the given lengths padded on one side."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(len(lengths), T, 8)
    mask = torch.zeros(len(lengths), T, dtype=torch.bool)
    for b, n in enumerate(lengths):
        sl = slice(0, n) if padding == "right" else slice(T - n, T)
        x[b, sl] = torch.randn(n, 8, generator=g)
        mask[b, sl] = True
    return x, mask


def test_gru4rec_equals_a_gru_run_row_by_row():
    torch.manual_seed(0)
    enc = GRU4RecEncoder(BackboneConfig(kind="gru4rec", **CFG)).eval()
    x, mask = rows([5, 2, 7], 7, "left")
    got = enc(x, mask)
    for b in range(3):
        real = x[b, mask[b]][None]  # the row's real items only, no padding
        want = enc.out(enc.gru(real)[0])[0]
        torch.testing.assert_close(got[b, mask[b]], want, atol=1e-5, rtol=1e-5)
        assert (got[b, ~mask[b]] == 0).all()


@pytest.mark.parametrize("kind", ["sasrec", "gru4rec"])
def test_causal_backbones_are_causal_and_ignore_the_padding_side(kind):
    torch.manual_seed(0)
    enc = make_backbone(BackboneConfig(kind=kind, **CFG)).eval()
    assert isinstance(enc, BACKBONES[kind])
    left_x, left_m = rows([4, 6], 6, "left", seed=1)
    right_x, right_m = rows([4, 6], 6, "right", seed=1)
    left, right = enc(left_x, left_m), enc(right_x, right_m)
    torch.testing.assert_close(left[left_m], right[right_m], atol=1e-5, rtol=1e-5)
    changed = right_x.clone()
    changed[1, 5] = torch.randn(8, generator=torch.Generator().manual_seed(9))  # the last item of row 1
    after = enc(changed, right_m)
    torch.testing.assert_close(after[1, :5], right[1, :5])  # earlier states do not see it
    assert not torch.allclose(after[1, 5], right[1, 5])


@pytest.mark.parametrize("kind", ["gru4rec", "bert4rec"])
@pytest.mark.parametrize("model", ["sasrec", "sid_sasrec", "h2rec"])
def test_every_model_trains_and_ranks_on_every_backbone(model, kind):
    from h2rec.config import TrainConfig
    from h2rec.data.sequences import SeqDataset
    from h2rec.models.inputs import ModelInputs
    from h2rec.models.registry import build_model
    from h2rec.sid.table import SidTable
    from tests.models.test_h2rec import random_codes
    from tests.train.toy import frames, patterned_sequences

    data = SeqDataset.from_frames(*frames(patterned_sequences(40, 30, seed=0), n_items=30))
    sid = SidTable(random_codes(data.n_items, [4, 4, 4]), [4, 4, 4])
    torch.manual_seed(0)
    net = build_model(TrainConfig(model=model, backbone=BackboneConfig(kind=kind, **CFG)), ModelInputs(data, sid))
    encoders = [m for m in net.modules() if type(m) is BACKBONES[kind]]
    assert encoders and not any(type(m) in set(BACKBONES.values()) - {BACKBONES[kind]} for m in net.modules())
    loss, _ = net.train().calculate_loss(data.train_batch(data.train_users()[:16], 12, "right"))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for e in encoders for p in e.parameters())
    users = data.train_users()[:4]
    scores = net.eval().full_sort_predict(data.eval_batch(users, "test", 12, "left"))
    assert scores.shape == (4, data.n_items + 1) and torch.isfinite(scores[:, 1:]).all()


def test_bert4rec_sees_both_ways_and_reads_its_mask_vector_at_hidden_positions():
    from h2rec.models.backbone import BERT4RecEncoder

    torch.manual_seed(0)
    enc = BERT4RecEncoder(BackboneConfig(kind="bert4rec", **CFG)).eval()
    x, mask = rows([6], 6, "right", seed=2)
    base = enc(x, mask)
    later = x.clone()
    later[0, 5] = torch.randn(8)
    assert not torch.allclose(enc(later, mask)[0, 0], base[0, 0])  # position 0 sees position 5
    cloze = torch.zeros_like(mask)
    cloze[0, 2] = True
    hidden = x.clone()
    hidden[0, 2] = torch.randn(8)  # what a hidden position holds does not matter
    torch.testing.assert_close(enc(hidden, mask, cloze), enc(x, mask, cloze))


@pytest.mark.parametrize("padding", ["left", "right"])
def test_cloze_batches_hide_items_and_predict_them(padding):
    from h2rec.data.sequences import Batch
    from h2rec.models.objectives import Cloze

    # inputs train[:-1] and targets train[1:] of the sequences [1, 2, 3, 4] and [5, 6]
    if padding == "right":
        items, targets = torch.tensor([[1, 2, 3], [5, 0, 0]]), torch.tensor([[2, 3, 4], [6, 0, 0]])
    else:
        items, targets = torch.tensor([[1, 2, 3], [0, 0, 5]]), torch.tensor([[2, 3, 4], [0, 0, 6]])
    batch = Batch(items, torch.tensor([0, 1]), torch.tensor([3, 1]), padding, targets)
    torch.manual_seed(0)
    cloze = Cloze(0.5).train_batch(batch)
    hidden = cloze.extras["cloze"]
    full = cloze.items + cloze.targets  # each position holds its item either as input or as target
    want = [[1, 2, 3, 4], [5, 6, 0, 0]] if padding == "right" else [[1, 2, 3, 4], [0, 0, 5, 6]]
    assert full.tolist() == want and cloze.lengths.tolist() == [4, 2]
    assert hidden.any(1).all() and ((cloze.targets != 0) == hidden).all() and (cloze.items[hidden] == 0).all()
    assert (cloze.mask == (torch.tensor(want) != 0)).all()  # hidden positions still count as real
    slot = Cloze(0.5).eval_batch(Batch(items, torch.tensor([0, 1]), torch.tensor([3, 1]), padding))
    rows = torch.arange(2)
    assert slot.extras["cloze"][rows, slot.last].all() and slot.extras["cloze"].sum() == 2
    assert (slot.items[:, :3] == items).all() and slot.lengths.tolist() == [4, 2]
