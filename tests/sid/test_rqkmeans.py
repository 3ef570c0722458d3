import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from h2rec.errors import DataError
from h2rec.sid.quantizer import nearest
from h2rec.sid.report import tuple_stats
from h2rec.sid.rqkmeans import RQKMeans, kmeans, kmeans_plusplus


def clustered(n=400, dim=16, centres=12, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    x = c[rng.integers(centres, size=n)] + 0.3 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def reference_nearest(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = ((x.astype(np.float64)[:, None, :] - c.astype(np.float64)[None]) ** 2).sum(-1)
    return d.argmin(1)


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float32, st.tuples(st.integers(1, 40), st.just(6)), elements=st.floats(-3, 3, width=32)),
    arrays(np.float32, st.tuples(st.integers(1, 9), st.just(6)), elements=st.floats(-3, 3, width=32)),
)
def test_nearest_matches_plain_float64_reference(x, c):
    got, want = nearest(x, c), reference_nearest(x, c)
    d = ((x.astype(np.float64)[:, None, :] - c.astype(np.float64)[None]) ** 2).sum(-1)
    rows = np.arange(len(x))
    # Equal distances may resolve either way; otherwise the answer must be the reference's.
    np.testing.assert_allclose(d[rows, got], d[rows, want], rtol=1e-9, atol=1e-9)


def test_nearest_does_not_depend_on_batch_size(real_embeddings):
    c = kmeans(real_embeddings, 32, seed=0, iters=5)
    whole = nearest(real_embeddings, c)
    one_by_one = np.array([nearest(row[None], c)[0] for row in real_embeddings])
    np.testing.assert_array_equal(whole, one_by_one)


def test_kmeans_plusplus_picks_distinct_points_and_is_seeded():
    x = clustered()
    a = kmeans_plusplus(x, 12, np.random.default_rng(1))
    b = kmeans_plusplus(x, 12, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a, axis=0)) == 12
    assert all((x == row).all(1).any() for row in a)  # centroids are data points
    assert kmeans_plusplus(np.ones((5, 3), np.float32), 2, np.random.default_rng(0)) is None


def test_kmeans_is_as_good_as_sklearn():
    from sklearn.cluster import KMeans

    x = clustered(n=600, centres=20)
    ours = kmeans(x, 20, seed=0, iters=20)
    inertia = ((x - ours[nearest(x, ours)]) ** 2).sum()
    sk = KMeans(20, n_init=1, random_state=0).fit(x).inertia_
    assert inertia <= 1.05 * sk


@pytest.mark.parametrize("normalize", [False, True])
def test_deterministic_under_a_seed(normalize):
    x = clustered()
    a = RQKMeans(3, 16, seed=7, normalize_residuals=normalize).fit(x)
    b = RQKMeans(3, 16, seed=7, normalize_residuals=normalize).fit(x)
    np.testing.assert_array_equal(a.encode(x), b.encode(x))
    for ca, cb in zip(a.codebooks, b.codebooks):
        np.testing.assert_array_equal(ca, cb)
    other = RQKMeans(3, 16, seed=8, normalize_residuals=normalize).fit(x)
    assert not np.array_equal(other.encode(x), a.encode(x))


@pytest.mark.parametrize("normalize", [False, True])
def test_codes_in_range_and_residual_norm_falls_level_by_level(normalize):
    x = clustered()
    q = RQKMeans(4, 16, seed=0, normalize_residuals=normalize).fit(x)
    codes = q.encode(x)
    assert codes.shape == (len(x), 4) and codes.dtype == np.int32
    assert codes.min() >= 0 and codes.max() < 16
    assert [c.shape for c in q.codebooks] == [(16, 16)] * 4
    r, norms = x.copy(), [np.linalg.norm(x, axis=1).mean()]
    for level, book in enumerate(q.codebooks):
        r = r - book[codes[:, level]]
        norms.append(np.linalg.norm(r, axis=1).mean())
    assert all(a > b for a, b in zip(norms, norms[1:])), norms
    np.testing.assert_allclose(q.decode(codes), x - r, atol=1e-5)


def test_real_embeddings_use_the_codebook_and_spread_items(real_embeddings):
    q = RQKMeans(3, 32, seed=42).fit(real_embeddings)
    codes = q.encode(real_embeddings)
    assert len(np.unique(codes[:, 0])) / 32 > 0.95
    assert tuple_stats(codes)["distinct_tuple_share"] > 0.7


def test_fewer_points_than_codes():
    x = clustered(n=5)
    q = RQKMeans(2, 16, seed=0).fit(x)
    codes = q.encode(x)
    assert len({tuple(c) for c in codes}) == 5
    np.testing.assert_allclose(q.decode(codes), x, atol=1e-5)


def test_bad_input_is_refused():
    q = RQKMeans(2, 4, seed=0).fit(clustered(n=50))
    with pytest.raises(DataError, match="expected a finite"):
        q.encode(np.full((2, 16), np.nan, np.float32))
    with pytest.raises(DataError, match="expected a finite"):
        q.encode(np.zeros((2, 8), np.float32))
    with pytest.raises(DataError, match="codes must lie in"):
        q.decode(np.array([[0, 4]]))
