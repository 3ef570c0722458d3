"""RQ-KMeans: k-means on the embeddings, then on what is left, level by level.

No training loop: level l clusters the residuals r_l into K centroids, each item takes its
nearest centroid's code, and r_{l+1} = r_l - centroid. Seeding is greedy k-means++ (D^2
sampling, numpy), the Lloyd iterations are faiss's (multi-threaded C++; the whole fit is
about 20x faster than a plain loop of sklearn KMeans on Beauty, docs/sid.md).

With `normalize_residuals`, each level clusters the *direction* r_l / |r_l| instead: deep
residuals are small and the coarse levels would otherwise dominate which items they group.
That clustering is spherical (unit-norm centroids): plain k-means on unit vectors grows a
centroid near the origin that is "second best" for everything and swallows hundreds of
items. The codebook vector of a code is the mean raw residual of the items that took it, so
decoding stays a plain sum of codebook rows in the embedding space.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from h2rec.sid.quantizer import ResidualQuantizer, nearest


def kmeans(x: np.ndarray, k: int, seed: int, iters: int, spherical: bool = False, init_sample: int = 8) -> np.ndarray:
    """(k, d) float32 centroids: k-means++ seeding, then `iters` Lloyd steps in faiss;
    `spherical` keeps the centroids unit-norm (for unit-norm data).

    The seeding looks at a random sample of `init_sample` * k points (Lloyd then sees them
    all): k sequential passes over every point would cost more than the clustering itself.
    Fewer distinct points than k (tiny catalogues, tests): every distinct point is its own
    centroid and the spare codes repeat the first one, so they are never chosen.
    """
    x = np.ascontiguousarray(x, np.float32)
    rng = np.random.default_rng(seed)
    if len(x) <= k:
        return _each_point_its_own_centroid(x, k)
    sample = x[rng.choice(len(x), init_sample * k, replace=False)] if len(x) > init_sample * k else x
    init = kmeans_plusplus(sample, k, rng)
    if init is None:  # the sample has fewer than k distinct points
        init = kmeans_plusplus(x, k, rng)
    if init is None:
        return _each_point_its_own_centroid(x, k)
    import faiss  # here: loading a fitted quantizer (to start SID tables from its codebooks) needs no faiss

    km = faiss.Kmeans(
        x.shape[1],
        k,
        niter=iters,
        seed=seed,
        verbose=False,
        max_points_per_centroid=len(x),  # use every point: no faiss subsampling
        min_points_per_centroid=1,  # and no warning about small clusters
        spherical=spherical,
    )
    km.train(x, init_centroids=init)
    return km.centroids.astype(np.float32)


def _each_point_its_own_centroid(x: np.ndarray, k: int) -> np.ndarray:
    distinct = np.unique(x, axis=0)[:k]
    spare = np.repeat(distinct[:1], k - len(distinct), axis=0)
    return np.concatenate([distinct, spare]).astype(np.float32)


def kmeans_plusplus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray | None:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii; the greedy variant sklearn uses):
    each next centroid is the best, by resulting inertia, of 2 + ln(k) candidates drawn with
    probability proportional to their squared distance to the nearest centroid so far.

    Written here rather than taken from sklearn: sklearn's OpenMP threads and faiss's spin
    against each other in one process (20+ s instead of 1 s on 2 cores). One BLAS thread:
    each step is a small matrix product, bound by memory, not arithmetic.
    None when x has fewer than k distinct points.
    """
    n, trials = len(x), 2 + int(np.log(k))
    sq = np.einsum("ij,ij->i", x, x)
    centers = np.empty((k, x.shape[1]), np.float32)
    with threadpool_limits(1, user_api="blas"):
        first = int(rng.integers(n))
        centers[0] = x[first]
        d2 = np.maximum(sq - 2.0 * (x @ x[first]) + sq[first], 0.0)
        d2[first] = 0.0  # exactly, whatever the rounding above
        for j in range(1, k):
            cum = np.cumsum(d2, dtype=np.float64)
            if cum[-1] <= 0.0:
                return None
            cand = np.minimum(np.searchsorted(cum, rng.random(trials) * cum[-1]), n - 1)
            dc = np.maximum(sq[None, :] - 2.0 * (x[cand] @ x.T) + sq[cand, None], 0.0)
            np.minimum(dc, d2[None, :], out=dc)
            dc[np.arange(trials), cand] = 0.0
            best = int(np.argmin(dc.sum(1, dtype=np.float64)))
            centers[j], d2 = x[cand[best]], dc[best]
    return centers


def _directions(r: np.ndarray) -> np.ndarray:
    return r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12)


class RQKMeans(ResidualQuantizer):
    method = "rqkmeans"

    def __init__(
        self,
        levels: int = 3,
        codebook_size: int = 256,
        seed: int = 42,
        iters: int = 10,
        normalize_residuals: bool = False,
    ):
        super().__init__(levels, codebook_size, seed)
        self.iters, self.normalize_residuals = iters, normalize_residuals
        # What codes are assigned against: the codebooks, or with normalize_residuals the
        # centroids of the residual directions.
        self.assign_centroids: list[np.ndarray] = []

    def fit(self, x: np.ndarray) -> RQKMeans:
        x = self._check_input(x)
        self.dim = x.shape[1]
        self.codebooks, self.assign_centroids = [], []
        r = x.astype(np.float32)
        for level in range(self.levels):
            target = _directions(r) if self.normalize_residuals else r
            # Each level gets its own seed so levels are not seeded alike.
            centroids = kmeans(target, self.codebook_size, self.seed + level, self.iters, self.normalize_residuals)
            codes = nearest(target, centroids)
            codebook = self._codebook(r, codes, centroids) if self.normalize_residuals else centroids
            self.assign_centroids.append(centroids)
            self.codebooks.append(codebook)
            r = r - codebook[codes]
        return self

    def _codebook(self, r: np.ndarray, codes: np.ndarray, centroids: np.ndarray) -> np.ndarray:
        """Mean raw residual per code; a code nobody took keeps its direction at mean scale."""
        k = self.codebook_size
        counts = np.bincount(codes, minlength=k).astype(np.float64)
        sums = np.zeros((k, r.shape[1]))
        np.add.at(sums, codes, r)
        book = centroids * np.linalg.norm(r, axis=1).mean()
        used = counts > 0
        book[used] = sums[used] / counts[used, None]
        return book.astype(np.float32)

    def encode(self, x: np.ndarray) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError("fit or load the quantizer first")
        r = self._check_input(x).copy()
        codes = np.empty((len(r), self.levels), np.int32)
        for level, (book, centroids) in enumerate(zip(self.codebooks, self.assign_centroids)):
            target = _directions(r) if self.normalize_residuals else r
            codes[:, level] = nearest(target, centroids)
            r -= book[codes[:, level]]
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = self._check_codes(codes)
        out = np.zeros((len(codes), self.dim), np.float32)
        for level, book in enumerate(self.codebooks):
            out += book[codes[:, level]]
        return out

    def _state(self) -> tuple[dict, dict[str, np.ndarray]]:
        arrays = {f"codebook_{l}": b for l, b in enumerate(self.codebooks)}
        if self.normalize_residuals:
            arrays |= {f"assign_{l}": c for l, c in enumerate(self.assign_centroids)}
        return {"iters": self.iters, "normalize_residuals": self.normalize_residuals}, arrays

    def _restore(self, settings: dict, arrays: dict[str, np.ndarray]) -> None:
        self.iters = int(settings["iters"])
        self.normalize_residuals = bool(settings["normalize_residuals"])
        self.codebooks = [arrays[f"codebook_{l}"] for l in range(self.levels)]
        key = "assign" if self.normalize_residuals else "codebook"
        self.assign_centroids = [arrays[f"{key}_{l}"] for l in range(self.levels)]
        expected = {f"{k}_{l}" for k in {"codebook", key} for l in range(self.levels)}
        if set(arrays) != expected:
            raise ValueError(f"arrays {sorted(set(arrays) ^ expected)} unexpected or missing")
