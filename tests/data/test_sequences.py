import numpy as np
import pandas as pd
import pytest
import torch

from h2rec.errors import DataError
from h2rec.data.sequences import SeqDataset
from tests.train.toy import frames

SEQS = [[1, 2, 3, 4, 5, 6], [7, 8, 9], [2, 4, 6, 8, 1, 3, 5, 7]]


def data() -> SeqDataset:
    return SeqDataset.from_frames(*frames(SEQS, n_items=9))


def test_targets_and_histories_follow_leave_one_out():
    d = data()
    assert d.targets("valid").tolist() == [5, 8, 5] and d.targets("test").tolist() == [6, 9, 7]
    assert d.n_train.tolist() == [4, 1, 6]
    assert d.train_users().tolist() == [0, 2]  # user 1 has one training item: nothing to predict


@pytest.mark.parametrize("padding", ["left", "right"])
def test_train_batch_shifts_targets_and_keeps_the_last_steps(padding):
    b = data().train_batch(np.array([0, 2]), max_len=4, padding=padding)
    real = b.items != 0
    # user 0: train [1,2,3,4]; user 2: train [2,4,6,8,1,3], inputs cut to their last 4
    assert b.items[real].tolist() == [1, 2, 3, 4, 6, 8, 1]
    assert b.targets[real].tolist() == [2, 3, 4, 6, 8, 1, 3]
    assert b.lengths.tolist() == [3, 4] and b.items.shape == (2, 4)
    assert (b.targets[~real] == 0).all()


def test_train_batch_windows_are_the_most_recent_steps():
    b = data().train_batch(np.array([2]), max_len=3, padding="right")
    assert b.items.tolist() == [[6, 8, 1]] and b.targets.tolist() == [[8, 1, 3]]


def _reference_windows(train: list[int], max_len: int, stride: int | None) -> list[tuple[list[int], list[int]]]:
    """(inputs, targets) of each window, the plain way: slide back from the end."""
    inputs, targets = train[:-1], train[1:]
    out, end = [], len(inputs)
    while True:
        lo = max(0, end - max_len)
        out.append((inputs[lo:end], targets[lo:end]))
        if stride is None or lo == 0:
            return out
        end -= stride


@pytest.mark.parametrize("max_len,stride", [(3, None), (3, 3), (3, 1), (2, 2), (4, 3), (10, 5)])
def test_train_windows_match_a_plain_sliding_window(max_len, stride):
    d = data()
    users, ends = d.train_windows(max_len, stride)
    b = d.train_batch(users, max_len, "right", ends)
    got = [(r[r != 0].tolist(), t[t != 0].tolist()) for r, t in zip(b.items, b.targets)]
    train = {u: SEQS[u][: d.n_train[u]] for u in d.train_users()}
    want = [w for u in d.train_users() for w in _reference_windows(train[u], max_len, stride)]
    assert sorted(got) == sorted(want)
    assert d.n_train_positions(max_len, stride) == sum(len(t) for _, t in want)


def test_windows_with_stride_max_len_train_every_target_once():
    d = data()
    users, ends = d.train_windows(2, 2)
    b = d.train_batch(users, 2, "left", ends)
    targets = sorted(b.targets[b.targets != 0].tolist())
    assert targets == sorted([2, 3, 4] + [4, 6, 8, 1, 3])  # user 0 and user 2, each target once
    assert d.n_train_positions(2, None) == 4  # the last window only: 2 + 2


def test_a_stride_below_one_is_refused():
    with pytest.raises(ValueError, match="stride must be >= 1"):
        data().train_windows(3, 0)


@pytest.mark.parametrize("padding", ["left", "right"])
def test_eval_batch_reads_the_history_before_the_target(padding):
    d = data()
    b = d.eval_batch(np.array([0, 1]), "test", max_len=10, padding=padding)
    assert [r[r != 0].tolist() for r in b.items] == [[1, 2, 3, 4, 5], [7, 8]]
    assert b.items[torch.arange(2), b.last].tolist() == [5, 8]  # last real item, either padding
    v = d.eval_batch(np.array([0]), "valid", max_len=2, padding=padding)
    assert v.items.tolist() == [[3, 4]]


def test_positions_count_from_the_first_real_item():
    b = data().eval_batch(np.array([0, 1]), "test", max_len=10, padding="left")
    assert b.positions().tolist() == [[0, 1, 2, 3, 4], [0, 0, 0, 0, 1]]


def test_signature_changes_with_the_data():
    a = data()
    other = SeqDataset.from_frames(*frames([*SEQS[:2], [2, 4, 6, 8, 1, 3, 5, 9]], n_items=9))
    assert a.signature() == data().signature() != other.signature()


def test_a_split_that_is_not_leave_one_out_is_refused():
    inter, items, users = frames(SEQS, n_items=9)
    inter.loc[0, "split"] = "valid"
    with pytest.raises(DataError, match="last event must be `test`"):
        SeqDataset.from_frames(inter, items, users)


def test_items_must_be_numbered_without_gaps():
    inter, items, users = frames(SEQS, n_items=9)
    items = items.assign(item=items["item"].replace({9: 10}))
    with pytest.raises(DataError, match="1..I"):
        SeqDataset.from_frames(inter, items, users)
