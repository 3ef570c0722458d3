"""Test doubles for the sentence encoder."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


class CountingEncoder:
    """Deterministic text -> vector, counting every text it is asked to encode.

    Texts that share their first word get nearby vectors (a topic centre plus a little noise
    seeded by the whole text), so quantizers see clustered data, as with real titles.
    """

    def __init__(self, dim: int = 16, key: str = "fake-encoder-0001"):
        self.dim, self.key = dim, key
        self.calls: list[list[str]] = []

    @property
    def encoded(self) -> int:
        return sum(len(c) for c in self.calls)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.stack([self.vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def vector(self, text: str) -> np.ndarray:
        topic = _rng(text.split(" ")[0] if text else "").normal(size=self.dim)
        noise = _rng(text).normal(size=self.dim)
        v = topic + 0.3 * noise
        return (v / np.linalg.norm(v)).astype(np.float32)


def _rng(text: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))
