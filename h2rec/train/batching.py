"""Training batches that waste little work on padding.

Users are shuffled, then sorted by length inside pools of `pool` batches and cut into batches,
and the batches are shuffled again: each batch holds users of similar length (so trimming it
to its own longest row leaves little padding) while batch composition and order still change
every epoch.
"""

from __future__ import annotations

import numpy as np


def bucketed_batches(
    users: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator, pool: int = 50
) -> list[np.ndarray]:
    """Split `users` (with their `lengths`) into batches of at most `batch_size`."""
    perm = rng.permutation(len(users))
    batches: list[np.ndarray] = []
    span = batch_size * pool
    for s in range(0, len(perm), span):
        part = perm[s : s + span]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(users[part[i : i + batch_size]] for i in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]
