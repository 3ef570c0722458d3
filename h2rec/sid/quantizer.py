"""The interface both residual quantizers share, and how a fitted one is saved and loaded.

A residual quantizer maps an embedding x (dim D) to L codes in [0, K): level 1 picks the
nearest of K vectors, level 2 quantizes what is left, and so on (coarse to fine).

    q = RQKMeans(levels=3, codebook_size=256, seed=42).fit(x)   # or RQVAE(...)
    codes = q.encode(x)           # (n, L) int32
    x_hat = q.decode(codes)       # (n, D) float32 reconstruction
    q.codebooks                   # L arrays (K, D) float32, in the embedding space
    q.save(dir, model_key=..., dedup_counts=...)   # manifest.json + weights.safetensors
    q = load_quantizer(dir, dim=384, levels=3, model_key=...)   # h2rec.sid.loading; checks each one

For other stages: `h2rec.sid.loading.load_quantizer(h2rec.paths.SID_QUANTIZER).codebooks[l]` is a (K, D)
matrix whose row k describes code k of level l in the embedding space (for RQ-KMeans the
level's centroids of the residuals; for RQ-VAE the decoder's image of each latent code, see
`RQVAE.codebooks`), e.g. to initialise the SID embedding tables.

Files never hold pickles: the manifest is JSON, the weights are safetensors (arrays only), and
the manifest records the weights' sha256, so a truncated or edited file is refused with a
`DataError` instead of being half-loaded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from safetensors.numpy import load_file, save_file

from h2rec.errors import DataError
from h2rec.io import atomic_path, write_json

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
DEDUP_KEY = "dedup_table"


class ResidualQuantizer:
    """Base class: subclasses implement fit/encode/decode and their saved state."""

    method: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[ResidualQuantizer]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        ResidualQuantizer.registry[cls.method] = cls

    def __init__(self, levels: int, codebook_size: int, seed: int = 0):
        self.levels, self.codebook_size, self.seed = levels, codebook_size, seed
        self.dim = 0
        self.codebooks: list[np.ndarray] = []
        # Set by load(): the embedding model the quantizer was fitted for, and the dedup
        # table (full tuple -> how many items hold it) that cold start continues counting on.
        self.model_key: str | None = None
        self.dedup_counts: dict[tuple[int, ...], int] | None = None

    # -- to implement ----------------------------------------------------------------------
    def fit(self, x: np.ndarray) -> ResidualQuantizer:
        raise NotImplementedError

    def encode(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def decode(self, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able settings, named arrays) that `_restore` rebuilds the fitted model from."""
        raise NotImplementedError

    def _restore(self, settings: dict, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return bool(self.codebooks)

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or (self.dim and x.shape[1] != self.dim) or not np.isfinite(x).all():
            raise DataError(
                f"{self.method}: expected a finite (n, {self.dim or 'dim'}) array, got shape "
                f"{x.shape}{'' if np.isfinite(x).all() else ' with NaN/inf values'}"
            )
        return np.ascontiguousarray(x)

    def _check_codes(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.levels:
            raise DataError(f"{self.method}: codes must be (n, {self.levels}), got {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() >= self.codebook_size):
            raise DataError(f"{self.method}: codes must lie in [0, {self.codebook_size})")
        return codes.astype(np.int64)

    def save(
        self,
        directory: Path | str,
        model_key: str | None = None,
        dedup_counts: dict[tuple[int, ...], int] | None = None,
    ) -> None:
        if not self.fitted:
            raise RuntimeError("fit the quantizer before saving it")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        settings, arrays = self._state()
        if dedup_counts is not None:
            # Rows (code_0, ..., code_{L-1}, count), sorted, so the file is deterministic.
            rows = sorted((*map(int, k), int(v)) for k, v in dedup_counts.items())
            arrays = {**arrays, DEDUP_KEY: np.array(rows, np.int64).reshape(-1, self.levels + 1)}
        with atomic_path(directory / WEIGHTS) as tmp:
            save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
            digest = _sha256(tmp)
        manifest = {
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "levels": self.levels,
            "codebook_size": self.codebook_size,
            "dim": self.dim,
            "seed": self.seed,
            "model_key": model_key if model_key is not None else self.model_key,
            "settings": settings,
            "weights_sha256": digest,
            # The dedup table (full tuple -> items holding it) lives in the weights file as
            # `dedup_table`; here only whether there is one and its size.
            "dedup": None if dedup_counts is None else {"tuples": len(dedup_counts)},
        }
        write_json(manifest, directory / MANIFEST)
        self.model_key, self.dedup_counts = manifest["model_key"], dedup_counts

    @classmethod
    def load(
        cls,
        directory: Path | str,
        dim: int | None = None,
        levels: int | None = None,
        codebook_size: int | None = None,
        model_key: str | None = None,
    ) -> ResidualQuantizer:
        """Load a saved quantizer; each given expectation that does not hold is a DataError."""
        directory = Path(directory)
        manifest = read_manifest(directory)
        method = manifest["method"]
        if cls.method and method != cls.method:
            raise DataError(f"{directory}: holds a '{method}' quantizer, not '{cls.method}'")
        expected = {"dim": dim, "levels": levels, "codebook_size": codebook_size, "model_key": model_key}
        for key, want in expected.items():
            if want is not None and manifest[key] != want:
                raise DataError(
                    f"{directory}: quantizer was fitted with {key}={manifest[key]!r}, but "
                    f"{want!r} is needed here; rerun `h2rec tokenize` (dvc repro tokenize)"
                )
        weights = directory / WEIGHTS
        if not weights.is_file() or _sha256(weights) != manifest["weights_sha256"]:
            raise DataError(f"{weights}: missing, truncated or modified (sha256 differs from {MANIFEST}); rerun `h2rec tokenize`")
        try:
            arrays = load_file(str(weights))
        except Exception as e:
            raise DataError(f"{weights}: unreadable safetensors file: {e}") from None
        dedup = {k: arrays.pop(k) for k in [DEDUP_KEY] if k in arrays}
        q = cls.registry[method](manifest["levels"], manifest["codebook_size"], manifest["seed"])
        q.dim = manifest["dim"]
        try:
            q._restore(manifest["settings"], arrays)
        except (KeyError, ValueError, TypeError, RuntimeError) as e:
            raise DataError(f"{directory}: weights do not match the manifest: {e}") from None
        bad = [c.shape for c in q.codebooks if c.shape != (q.codebook_size, q.dim)]
        if len(q.codebooks) != q.levels or bad:
            raise DataError(f"{directory}: codebook shapes {bad} do not match the manifest")
        q.model_key = manifest["model_key"]
        if manifest["dedup"] is not None:
            table = dedup.get(DEDUP_KEY)
            if table is None or table.shape != (manifest["dedup"]["tuples"], q.levels + 1):
                raise DataError(f"{weights}: dedup table missing or not the size the manifest says")
            q.dedup_counts = {tuple(row[:-1]): row[-1] for row in table.tolist()}
        return q


def read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not path.is_file():
        raise DataError(f"{path}: no saved quantizer here; run `h2rec tokenize` first")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON (truncated or corrupt?): {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        got = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise DataError(f"{path}: format_version {got!r}, this code reads {FORMAT_VERSION}")
    required = ["method", "levels", "codebook_size", "dim", "seed", "model_key", "settings", "weights_sha256", "dedup"]
    missing = [k for k in required if k not in manifest]
    if missing:
        raise DataError(f"{path}: manifest lacks {missing}")
    dedup = manifest["dedup"]
    if dedup is not None and not (isinstance(dedup, dict) and isinstance(dedup.get("tuples"), int)):
        raise DataError(f"{path}: 'dedup' must be null or {{\"tuples\": n}}")
    if manifest["method"] not in ResidualQuantizer.registry:
        raise DataError(f"{path}: unknown method {manifest['method']!r}; known: {sorted(ResidualQuantizer.registry)}")
    return manifest


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def nearest(x: np.ndarray, centroids: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Index of the nearest centroid (squared L2) for each row of x.

    The answer must not depend on how many rows are encoded together (one cold-start item vs
    the whole catalogue), but float32 matrix products round differently with the batch
    shape. So distances are computed in float32 (fast) and every row whose best two
    candidates are too close to call is recomputed exactly in float64, row by row.
    """
    c32 = np.ascontiguousarray(centroids, np.float32)
    c64 = c32.astype(np.float64)
    c_sq = (c64 * c64).sum(1)
    out = np.empty(len(x), np.int64)
    for start in range(0, len(x), chunk):
        xb = np.ascontiguousarray(x[start : start + chunk], np.float32)
        d = c_sq.astype(np.float32)[None, :] - 2.0 * (xb @ c32.T)
        best = np.argmin(d, axis=1)
        if d.shape[1] > 1:
            two = np.partition(d, 1, axis=1)[:, :2]
            scale = np.abs(two).max(1) + (xb.astype(np.float64) ** 2).sum(1)
            close = np.flatnonzero(two[:, 1] - two[:, 0] <= 1e-4 * np.maximum(scale, 1e-12))
            for i in close:
                best[i] = np.argmin(c_sq - 2.0 * (c64 @ xb[i].astype(np.float64)))
        out[start : start + chunk] = best
    return out
