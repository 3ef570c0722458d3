import numpy as np
import pytest
import torch

from h2rec.config import BackboneConfig
from h2rec.data.sequences import Batch
from h2rec.models.backbone import SASRecEncoder, attention_mask
from h2rec.models.losses import NextItemLoss
from h2rec.models.sasrec import SASRec
from tests.train.toy import toy_dataset

torch.set_num_threads(1)
CFG = BackboneConfig(max_len=8, hidden=16, layers=2, heads=2, ffn=32, dropout=0.0, attn_dropout=0.0)


def model(cfg: BackboneConfig = CFG, n_items: int = 25, loss: str = "ce") -> SASRec:
    torch.manual_seed(0)
    return SASRec(n_items, cfg, NextItemLoss(loss, n_items, bce_negatives=3, softmax_negatives=10)).eval()


def rows(seqs: list[list[int]], padding: str, width: int | None = None) -> Batch:
    width = width or max(map(len, seqs))
    items = torch.zeros(len(seqs), width, dtype=torch.long)
    for r, s in enumerate(seqs):
        if padding == "right":
            items[r, : len(s)] = torch.tensor(s)
        else:
            items[r, width - len(s) :] = torch.tensor(s)
    return Batch(items, torch.arange(len(seqs)), torch.tensor([len(s) for s in seqs]), padding)


SEQS = [[3, 7, 1, 9], [5], [2, 4, 6, 8, 10, 12, 14], [11, 11, 3]]


@pytest.mark.parametrize("norm_first", [False, True])
def test_left_and_right_padding_give_the_same_scores(norm_first):
    m = model(CFG.model_copy(update={"norm_first": norm_first}))
    with torch.no_grad():
        left = m.full_sort_predict(rows(SEQS, "left"))
        right = m.full_sort_predict(rows(SEQS, "right"))
        wide = m.full_sort_predict(rows(SEQS, "left", width=8))  # more padding than needed
    assert torch.allclose(left, right, atol=1e-5)
    assert torch.allclose(left, wide, atol=1e-5)


def test_a_future_item_never_changes_an_earlier_state():
    m = model()
    a = rows([[3, 7, 1, 9, 4]], "right")
    b = rows([[3, 7, 1, 20, 21]], "right")
    with torch.no_grad():
        sa, sb = m.sequence_states(a), m.sequence_states(b)
    assert torch.allclose(sa[0, :3], sb[0, :3], atol=1e-6)
    assert not torch.allclose(sa[0, 3], sb[0, 3], atol=1e-3)


@pytest.mark.parametrize("padding", ["left", "right"])
def test_whatever_sits_at_a_padded_position_never_reaches_a_real_one(padding):
    torch.manual_seed(0)
    enc = SASRecEncoder(CFG).eval()
    mask = rows(SEQS, padding).mask
    x = torch.randn(len(SEQS), mask.shape[1], CFG.hidden)
    y = x.clone()
    y[~mask] = torch.randn(int((~mask).sum()), CFG.hidden) * 100  # garbage in the padding
    with torch.no_grad():
        hx, hy = enc(x, mask), enc(y, mask)
    assert torch.allclose(hx[mask], hy[mask], atol=1e-5)
    assert torch.isfinite(hx).all()


def test_attention_mask_is_causal_and_ignores_padding():
    mask = torch.tensor([[False, True, True]])
    allowed = attention_mask(mask)[0]
    assert allowed.tolist() == [[True, False, False], [False, True, False], [False, True, True]]


@pytest.mark.parametrize("loss", ["ce", "bce", "sampled_softmax"])
def test_loss_is_finite_named_and_trains(loss):
    data = toy_dataset(n_users=20, n_items=25)
    m = model(loss=loss).train()
    batch = data.train_batch(data.train_users(), 8, "right")
    total, terms = m.calculate_loss(batch)
    assert torch.isfinite(total) and set(terms) == {"rec"}
    total.backward()
    assert m.items.weight.grad.abs().sum() > 0
    assert m.items.weight.grad[0].abs().sum() == 0  # the padding vector never learns


def test_padding_positions_do_not_enter_the_loss():
    data = toy_dataset(n_users=12, n_items=25)
    m = model()
    b = data.train_batch(np.arange(12), 8, "right")
    wide = Batch(
        torch.nn.functional.pad(b.items, (0, 5)), b.users, b.lengths, "right", targets=torch.nn.functional.pad(b.targets, (0, 5))
    )
    with torch.no_grad():
        assert torch.allclose(m.calculate_loss(b)[0], m.calculate_loss(wide)[0], atol=1e-6)


def test_predict_scores_given_items_like_full_sort():
    m = model()
    b = rows(SEQS, "right")
    with torch.no_grad():
        full = m.full_sort_predict(b)
        some = m.predict(b, torch.tensor([4, 9, 1]))
        per_row = m.predict(b, torch.tensor([[4, 9]] * len(SEQS)))
    assert torch.allclose(some, full[:, [4, 9, 1]], atol=1e-5)
    assert torch.allclose(per_row, full[:, [4, 9]], atol=1e-5)
    assert torch.isinf(full[:, 0]).all()
