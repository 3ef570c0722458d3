"""Negatives for the sampled protocol: per user, n distinct items the user never touched.

Drawn once, vectorised, from a fixed seed: the same data and seed give the same negatives for
every model, so sampled numbers are comparable across runs. "Touched" means anywhere in the
user's sequence (train, valid and test), so neither target is ever a negative.
"""

from __future__ import annotations

import numpy as np

from h2rec.errors import DataError


def sample_negatives(
    offsets: np.ndarray,
    flat: np.ndarray,
    n_items: int,
    n: int,
    seed: int,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """(U, n) int64 negatives; `weights` (I+1,) makes the draw popularity-proportional."""
    n_users = len(offsets) - 1
    touched = _touched_keys(offsets, flat, n_items)
    free = n_items - np.bincount(touched // (n_items + 1), minlength=n_users)
    if (free < n).any():
        u = int(np.argmax(free < n))
        raise DataError(f"user {u} leaves fewer than {n} untouched items; lower evaluate.sampled_negatives")
    p = None if weights is None else _probabilities(weights)
    rng = np.random.default_rng(seed)
    out = np.zeros((n_users, n), dtype=np.int64)
    todo, width = np.arange(n_users), 2 * n + 16
    while len(todo):
        drawn = _draw(rng, (len(todo), width), n_items, p)
        ok = _first_untouched(drawn, todo, touched, n_items)
        full = ok.sum(1) >= n
        rows = np.flatnonzero(full)
        take = ok[rows] & (np.cumsum(ok[rows], 1) <= n)
        out[todo[rows]] = drawn[rows][take].reshape(len(rows), n)
        todo, width = todo[~full], width * 2  # rare: users with huge histories, draw more
    return out


def _draw(rng: np.random.Generator, shape: tuple[int, int], n_items: int, p: np.ndarray | None) -> np.ndarray:
    if p is None:
        return rng.integers(1, n_items + 1, size=shape)
    return rng.choice(np.arange(1, n_items + 1), size=shape, p=p)


def _probabilities(weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)[1:] + 1.0  # +1: never-seen items stay possible
    return w / w.sum()


def _touched_keys(offsets: np.ndarray, flat: np.ndarray, n_items: int) -> np.ndarray:
    users = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    return np.unique(users * (n_items + 1) + flat)


def _first_untouched(drawn: np.ndarray, users: np.ndarray, touched: np.ndarray, n_items: int) -> np.ndarray:
    """True at the first occurrence in its row of each drawn item the user never touched."""
    keys = users[:, None] * (n_items + 1) + drawn
    pos = np.searchsorted(touched, keys).clip(max=len(touched) - 1)
    untouched = touched[pos] != keys
    first = np.zeros(keys.size, dtype=bool)
    first[np.unique(keys.ravel(), return_index=True)[1]] = True
    return untouched & first.reshape(keys.shape)
