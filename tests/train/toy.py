"""Small synthetic datasets in the prepared-data layout, for fast tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from h2rec.data.sequences import SeqDataset


def frames(seqs: list[list[int]], n_items: int, head_share: float = 0.2, n_buckets: int = 5, short_max: int = 5):
    """(interactions, items, users) frames for sequences of item ids in 1..n_items."""
    rows = []
    for u, seq in enumerate(seqs):
        for p, item in enumerate(seq):
            split = "test" if p == len(seq) - 1 else "valid" if p == len(seq) - 2 else "train"
            rows.append((u, item, p, split))
    inter = pd.DataFrame(rows, columns=["user", "item", "pos", "split"]).astype(
        {"user": "int32", "item": "int32", "pos": "int32"}
    )
    train = inter[inter["split"] == "train"]
    count = np.bincount(train["item"], minlength=n_items + 1)[1:]
    order = np.argsort(-count, kind="stable")  # most popular first
    head = np.zeros(n_items, dtype=bool)
    head[order[: max(1, int(round(head_share * n_items)))]] = True
    bucket = np.empty(n_items, dtype=np.int64)
    bucket[order[::-1]] = np.arange(n_items) * n_buckets // n_items  # 0 = least popular
    items = pd.DataFrame(
        {
            "item": np.arange(1, n_items + 1, dtype=np.int32),
            "item_id": [f"i{i}" for i in range(1, n_items + 1)],
            "train_count": count,
            "popularity": np.where(head, "head", "tail"),
            "bucket": bucket,
        }
    )
    n_train = np.array([len(s) - 2 for s in seqs])
    users = pd.DataFrame(
        {
            "user": np.arange(len(seqs), dtype=np.int32),
            "user_id": [f"u{u}" for u in range(len(seqs))],
            "n_train": n_train.astype(np.int32),
            "length_group": np.where(n_train <= short_max, "short", "long"),
        }
    )
    return inter, items, users


def random_sequences(
    n_users: int, n_items: int, seed: int = 0, min_len: int = 3, max_len: int = 12, repeats: bool = False
) -> list[list[int]]:
    """Random sequences; without repeats no item occurs twice in a user's sequence."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n_users):
        n = int(rng.integers(min_len, max_len + 1))
        seqs.append((rng.integers(1, n_items + 1, n) if repeats else rng.permutation(n_items)[:n] + 1).tolist())
    return seqs


def toy_dataset(n_users: int = 40, n_items: int = 30, seed: int = 0, **kw) -> SeqDataset:
    return SeqDataset.from_frames(*frames(random_sequences(n_users, n_items, seed, **kw), n_items))


def patterned_sequences(n_users: int, n_items: int, seed: int = 0, length: tuple[int, int] = (5, 15)) -> list[list[int]]:
    """Sequences that follow a learnable rule (item i is mostly followed by i+1), for training tests."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n_users):
        n = int(rng.integers(*length))
        start = int(rng.integers(1, n_items + 1))
        seq = [(start + k - 1) % n_items + 1 for k in range(n)]
        noise = rng.random(n) < 0.1
        seq = [int(rng.integers(1, n_items + 1)) if z else s for s, z in zip(seq, noise)]
        seqs.append(seq)
    return seqs
