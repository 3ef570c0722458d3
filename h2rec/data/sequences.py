"""The prepared split as flat arrays, and the batches every model consumes.

A user's whole sequence (train items, then the validation item, then the test item) is one
slice of a flat array, so a history, a target or a training window is index arithmetic and a
batch is built with a few vectorised gathers, never a Python loop over users.

Batch format (the contract between data, trainer, evaluator and models):
    items    (B, T) int64  input item ids, 0 = padding; T = the longest sequence in the batch
    targets  (B, T) int64  the next item at each input position (training), 0 = no target
    users    (B,)   int64  user indices
    lengths  (B,)   int64  number of real items per row
    padding  "left" | "right"
Items at real positions are never 0, so `items != 0` is the padding mask.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from h2rec import paths
from h2rec.errors import DataError
from h2rec.io import read_parquet, require_columns

Split = Literal["valid", "test"]
Padding = Literal["left", "right"]


@dataclass
class Batch:
    items: torch.Tensor
    users: torch.Tensor
    lengths: torch.Tensor
    padding: Padding
    targets: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # room for model-specific inputs ("cloze": (B, T) bool)

    @property
    def mask(self) -> torch.Tensor:
        """(B, T) True at real items, and at cloze positions (real but hidden: item id 0)."""
        cloze = self.extras.get("cloze")
        return self.items != 0 if cloze is None else (self.items != 0) | cloze

    @property
    def last(self) -> torch.Tensor:
        """(B,) index of each row's last real position, where the user state is read."""
        if self.padding == "left":
            return torch.full_like(self.lengths, self.items.shape[1] - 1)
        return self.lengths - 1

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """The same batch on `device` (a no-op when it is there already)."""
        move = lambda t: t if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        extras = {k: move(v) for k, v in self.extras.items()}
        return Batch(move(self.items), move(self.users), move(self.lengths), self.padding, move(self.targets), extras)

    def positions(self) -> torch.Tensor:
        """(B, T) 0-based position of each item from the start of its window (0 on padding)."""
        return (self.mask.long().cumsum(1) - 1).clamp_min(0)


@dataclass(frozen=True)
class SeqDataset:
    """Leave-one-out sequences. Item ids 1..n_items; users 0..n_users-1."""

    n_users: int
    n_items: int
    offsets: np.ndarray  # (U+1,) int64: user u's sequence is flat[offsets[u]:offsets[u+1]]
    flat: np.ndarray  # int64 item ids in chronological order
    n_train: np.ndarray  # (U,) training items per user; then one valid and one test item
    train_count: np.ndarray  # (I+1,) training interactions per item (0 for padding)
    is_head: np.ndarray  # (I+1,) bool
    bucket: np.ndarray  # (I+1,) int, 0 = least popular (-1 for padding)
    is_long: np.ndarray  # (U,) bool: long users (length_group == "long")

    @classmethod
    def from_frames(cls, interactions: pd.DataFrame, items: pd.DataFrame, users: pd.DataFrame) -> SeqDataset:
        inter = interactions.sort_values(["user", "pos"], kind="stable")
        n_users, n_items = len(users), len(items)
        user = inter["user"].to_numpy(np.int64)
        counts = np.bincount(user, minlength=n_users)
        split = inter["split"].astype(str).to_numpy()
        offsets = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        n_train = counts - 2
        _check_leave_one_out(split, offsets, n_train)
        item_rows = items.sort_values("item")
        if not np.array_equal(item_rows["item"].to_numpy(), np.arange(1, n_items + 1)):
            raise DataError("items table: `item` must number the catalogue 1..I without gaps")
        pad = lambda values, fill: np.concatenate([[fill], values])  # noqa: E731
        user_rows = users.sort_values("user")
        return cls(
            n_users=n_users,
            n_items=n_items,
            offsets=offsets,
            flat=inter["item"].to_numpy(np.int64),
            n_train=n_train.astype(np.int64),
            train_count=pad(item_rows["train_count"].to_numpy(np.int64), 0),
            is_head=pad(item_rows["popularity"].astype(str).to_numpy() == "head", False),
            bucket=pad(item_rows["bucket"].to_numpy(np.int64), -1),
            is_long=user_rows["length_group"].astype(str).to_numpy() == "long",
        )

    @classmethod
    def load(cls, prepared_dir: Path | str = paths.PREPARED) -> SeqDataset:
        d = Path(prepared_dir)
        inter = read_parquet(d / "interactions.parquet", ["user", "item", "pos", "split"])
        items = read_parquet(d / "items.parquet", ["item", "train_count", "popularity", "bucket"])
        users = read_parquet(d / "users.parquet", ["user", "length_group"])
        require_columns(inter, ["user", "item", "pos", "split"], d / "interactions.parquet")
        return cls.from_frames(inter, items, users)

    # -- views ---------------------------------------------------------------------------
    def history_end(self, split: Split) -> np.ndarray:
        """(U,) end (exclusive, into `flat`) of the history a split's target is predicted from."""
        return self.offsets[:-1] + self.n_train + (1 if split == "test" else 0)

    def targets(self, split: Split) -> np.ndarray:
        return self.flat[self.history_end(split)]

    def train_users(self) -> np.ndarray:
        """Users with at least one next-item training example (two training items)."""
        return np.flatnonzero(self.n_train >= 2)

    def train_windows(self, max_len: int, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(users, ends) of the training examples: a window's inputs are flat[max(start, end -
        max_len):end] and its targets the items one step later.

        Every training user has a window ending at its last training input. With `stride`, a
        history longer than `max_len` gets earlier windows too, each ending `stride` items
        before the next, until the first items are covered: with stride = max_len every
        training target is in exactly one window; a smaller stride overlaps them. `None`: the
        last window only (only the last `max_len` targets of a long history are trained on).
        """
        users = self.train_users()
        last = self.offsets[users] + self.n_train[users] - 1  # the last training item is a target only
        if stride is None:
            return users, last
        if stride < 1:
            raise ValueError(f"window stride must be >= 1, got {stride}")
        inputs = self.n_train[users] - 1
        counts = 1 + np.maximum(0, -(-(inputs - max_len) // stride))  # ceil division
        first = np.cumsum(counts) - counts
        k = np.arange(counts.sum()) - np.repeat(first, counts)  # window k = k strides before the last
        return np.repeat(users, counts), np.repeat(last, counts) - k * stride

    def n_train_positions(self, max_len: int, stride: int | None = None) -> int:
        """Targets an epoch trains on (counted once per window they are in)."""
        users, ends = self.train_windows(max_len, stride)
        return int(np.minimum(ends - self.offsets[users], max_len).sum())

    def signature(self) -> str:
        """Fingerprint of the sequences and popularity labels a model was trained on."""
        h = hashlib.sha256()
        for a in (self.offsets, self.flat, self.n_train, self.train_count, self.is_head, self.bucket):
            h.update(np.ascontiguousarray(a).tobytes())
        return f"{self.n_users}u-{self.n_items}i-{h.hexdigest()[:16]}"

    # -- batches -------------------------------------------------------------------------
    def train_batch(self, users: np.ndarray, max_len: int, padding: Padding, ends: np.ndarray | None = None) -> Batch:
        """Inputs flat[end - max_len:end] and targets one step later, per (user, end) of
        `train_windows`; without `ends`, each user's last window (train[:-1] -> train[1:])."""
        start = self.offsets[users]
        end = start + self.n_train[users] - 1 if ends is None else ends
        items, lengths = _windows(self.flat, start, end, max_len, padding)
        targets, _ = _windows(self.flat, start + 1, end + 1, max_len, padding)
        return Batch(_t(items), _t(users), _t(lengths), padding, targets=_t(targets))

    def eval_batch(self, users: np.ndarray, split: Split, max_len: int, padding: Padding) -> Batch:
        """The history before the split's target, cut to its last `max_len` items."""
        end = self.history_end(split)[users]
        items, lengths = _windows(self.flat, self.offsets[users], end, max_len, padding)
        return Batch(_t(items), _t(users), _t(lengths), padding)


def _windows(flat: np.ndarray, start: np.ndarray, end: np.ndarray, max_len: int, padding: Padding):
    """Rows flat[max(start, end - max_len):end], padded with 0 to the longest row."""
    lengths = np.minimum(end - start, max_len)
    width = max(int(lengths.max(initial=0)), 1)
    col = np.arange(width)
    if padding == "right":
        idx = end[:, None] - lengths[:, None] + col[None, :]
        real = col[None, :] < lengths[:, None]
    else:
        idx = end[:, None] - width + col[None, :]
        real = col[None, :] >= width - lengths[:, None]
    out = np.where(real, flat[np.where(real, idx, 0)], 0)
    return out, lengths


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))


def _check_leave_one_out(split: np.ndarray, offsets: np.ndarray, n_train: np.ndarray) -> None:
    if (n_train < 1).any():
        u = int(np.flatnonzero(n_train < 1)[0])
        raise DataError(f"user {u} has fewer than 3 interactions; the split needs train, valid and test")
    last = offsets[1:] - 1
    bad = (split[last] != "test") | (split[last - 1] != "valid")
    is_train = np.ones(len(split), dtype=bool)
    is_train[last] = is_train[last - 1] = False
    if bad.any() or (split[is_train] != "train").any():
        raise DataError(
            "prepared interactions: each user's last event must be `test`, the one before "
            "`valid`, every other `train` (rerun `h2rec split`)"
        )
