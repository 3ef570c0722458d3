import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h2rec.errors import DataError
from h2rec.data.cooccurrence import cooccurrence_counts, load_cooccurrence, ppmi_neighbours, save_cooccurrence


def flatten(seqs: list[list[int]]):
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
    flat = np.array([i for s in seqs for i in s], dtype=np.int64)
    return offsets, flat


def reference_counts(seqs, n_train, window):
    c = Counter()
    for seq, n in zip(seqs, n_train):
        train = seq[:n]
        for p in range(len(train)):
            for q in range(p + 1, min(p + window + 1, len(train))):
                if train[p] != train[q]:
                    c[(train[p], train[q])] += 1
                    c[(train[q], train[p])] += 1
    return c


sequences = st.lists(st.lists(st.integers(1, 6), min_size=3, max_size=9), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(seqs=sequences, window=st.integers(1, 3))
def test_counts_match_a_plain_loop_and_never_read_valid_or_test(seqs, window):
    n_train = np.array([len(s) - 2 for s in seqs])
    offsets, flat = flatten(seqs)
    counts = cooccurrence_counts(offsets, flat, n_train, 6, window).toarray()
    expected = np.zeros((7, 7))
    for (a, b), v in reference_counts(seqs, n_train, window).items():
        expected[a, b] = v
    assert np.array_equal(counts, expected)


@settings(max_examples=40, deadline=None)
@given(seqs=sequences, min_count=st.integers(1, 2), top_k=st.integers(1, 4))
def test_ppmi_neighbours_match_the_formula(seqs, min_count, top_k):
    n_train = np.array([len(s) - 2 for s in seqs])
    offsets, flat = flatten(seqs)
    counts = cooccurrence_counts(offsets, flat, n_train, 6, 3)
    neighbours, ppmi = ppmi_neighbours(counts, min_count, top_k)
    dense = counts.toarray()
    total, marginal = dense.sum(), dense.sum(1)
    for a in range(7):
        scored = sorted(
            ((-math.log(dense[a, b] * total / (marginal[a] * marginal[b])), b) for b in range(7)
             if dense[a, b] >= min_count and math.log(dense[a, b] * total / (marginal[a] * marginal[b])) > 0),
        )[:top_k]
        got = [(int(n), float(w)) for n, w in zip(neighbours[a], ppmi[a]) if n > 0]
        assert [b for _, b in scored] == [n for n, _ in got]
        assert np.allclose([-s for s, _ in scored], [w for _, w in got], rtol=1e-5)


def test_save_load_roundtrip_and_catalogue_check(tmp_path):
    n, w = np.array([[0, 0], [2, 0], [1, 0]]), np.array([[0, 0], [0.5, 0], [0.5, 0]], np.float32)
    save_cooccurrence(tmp_path / "c.npz", n, w)
    got_n, got_w = load_cooccurrence(tmp_path / "c.npz", 2)
    assert np.array_equal(got_n, n) and np.array_equal(got_w, w)
    with pytest.raises(DataError, match="does not fit a catalogue of 5 items"):
        load_cooccurrence(tmp_path / "c.npz", 5)
    with pytest.raises(DataError, match="run `h2rec cooccurrence`"):
        load_cooccurrence(tmp_path / "missing.npz", 2)
