import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h2rec.errors import DataError
from h2rec.eval.negatives import sample_negatives
from tests.train.toy import toy_dataset


def _check(neg: np.ndarray, data, n: int) -> None:
    assert neg.shape == (data.n_users, n)
    for u in range(data.n_users):
        touched = set(data.flat[data.offsets[u] : data.offsets[u + 1]].tolist())
        row = neg[u].tolist()
        assert len(set(row)) == n, "negatives of a user are distinct"
        assert not touched & set(row), "never an item of the user's sequence (targets included)"
        assert all(1 <= i <= data.n_items for i in row)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 15))
def test_negatives_exclude_every_touched_item(seed, n):
    data = toy_dataset(n_users=25, n_items=30, seed=seed % 7)
    neg = sample_negatives(data.offsets, data.flat, data.n_items, n, seed)
    _check(neg, data, n)


def test_popularity_sampling_also_excludes_touched_items():
    data = toy_dataset(n_users=30, n_items=40)
    neg = sample_negatives(data.offsets, data.flat, data.n_items, 10, 0, weights=data.train_count)
    _check(neg, data, 10)


def test_same_seed_same_negatives_other_seed_other_negatives():
    data = toy_dataset(n_users=30, n_items=200)
    a = sample_negatives(data.offsets, data.flat, data.n_items, 20, 1)
    assert np.array_equal(a, sample_negatives(data.offsets, data.flat, data.n_items, 20, 1))
    assert not np.array_equal(a, sample_negatives(data.offsets, data.flat, data.n_items, 20, 2))


def test_uniform_sampling_is_roughly_uniform():
    data = toy_dataset(n_users=300, n_items=50, max_len=5)
    neg = sample_negatives(data.offsets, data.flat, data.n_items, 10, 0)
    counts = np.bincount(neg.ravel(), minlength=51)[1:]
    assert counts.min() > 0.6 * counts.mean() and counts.max() < 1.4 * counts.mean()


def test_user_with_nearly_every_item_takes_what_is_left():
    data = toy_dataset(n_users=5, n_items=12, min_len=10, max_len=10)  # 2 untouched items each
    neg = sample_negatives(data.offsets, data.flat, data.n_items, 2, 0)
    _check(neg, data, 2)
    with pytest.raises(DataError, match="untouched"):
        sample_negatives(data.offsets, data.flat, data.n_items, 3, 0)
