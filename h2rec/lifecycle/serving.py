"""Top-K recommendations from a trained model, in-process or as an MLflow pyfunc.

A *bundle* is a folder holding everything a trained model needs to answer: the checkpoint
(`model/best.pt`), the prepared tables it was trained on (`prepared/`: item ids, titles and
the sequences its identity check reads) and, for Semantic-ID models, `sid/`. The pyfunc
logged to MLflow carries that folder as its only artifact, so `models:/h2rec@champion`
works in a fresh process without the project's data folders.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from h2rec import paths
from h2rec.data.sequences import Batch
from h2rec.errors import DataError
from h2rec.io import read_parquet
from h2rec.paths import Layout
from h2rec.train import checkpoint
from h2rec.train.inputs import load_trained

log = logging.getLogger(__name__)
MODEL, PREPARED, SID = "model", "prepared", "sid"
SID_FILES = ("sids.parquet", "sid_meta.json")


def make_bundle(
    dest: Path, model_dir: Path = paths.MODEL_DIR, prepared_dir: Path = paths.PREPARED, sid_dir: Path = paths.SID
) -> Path:
    dest = Path(dest)
    (dest / MODEL).mkdir(parents=True, exist_ok=True)
    shutil.copy2(Path(model_dir) / checkpoint.BEST, dest / MODEL / checkpoint.BEST)
    shutil.copytree(prepared_dir, dest / PREPARED, dirs_exist_ok=True)
    if all((Path(sid_dir) / f).exists() for f in SID_FILES):
        (dest / SID).mkdir(exist_ok=True)
        for f in SID_FILES:
            shutil.copy2(Path(sid_dir) / f, dest / SID / f)
    return dest


class Recommender:
    """Scores whole catalogues for histories given as lists of original item ids."""

    def __init__(self, bundle: Path | str):
        bundle = Path(bundle)
        self.model, self.cfg, _ = load_trained(bundle / MODEL, Layout(prepared=bundle / PREPARED, sid=bundle / SID))
        items = read_parquet(bundle / PREPARED / "items.parquet")
        self.item_ids = np.concatenate([[""], items["item_id"].astype(str).to_numpy()])
        titles = items["title"].astype(str) if "title" in items else pd.Series([""] * len(items))
        self.titles = np.concatenate([[""], titles.to_numpy()])
        self.index = {item_id: i for i, item_id in enumerate(self.item_ids) if i}

    def add_items(self, new_items: pd.DataFrame) -> int:
        """Make new items recommendable from their Semantic IDs alone (cold start).

        `new_items` has `item_id`, `code_0..code_{L-1}` (the output of `h2rec tokenize --items`)
        and optionally `title`. Only models that score items through their codes can do this.
        """
        sid = getattr(self.model, "sid_embedding", None)
        if sid is None:
            raise DataError(f"model {self.cfg.model!r} scores items by hash ID only: it cannot rank new items")
        fresh = new_items[~new_items["item_id"].astype(str).isin(self.index)]
        cols = sorted((c for c in fresh.columns if c.startswith("code_")), key=lambda c: int(c.split("_")[1]))
        levels = sid.n_levels  # a model trained without the dedup code ignores it
        if len(cols) < levels:
            raise DataError(f"new items have {len(cols)} code columns, the model reads {levels}")
        ids = self.model.add_items(fresh[cols[:levels]].to_numpy(np.int64)).numpy()
        self.item_ids = np.concatenate([self.item_ids, fresh["item_id"].astype(str).to_numpy()])
        title = fresh["title"].astype(str) if "title" in fresh else pd.Series([""] * len(fresh))
        self.titles = np.concatenate([self.titles, title.to_numpy()])
        self.index.update({item_id: int(i) for item_id, i in zip(fresh["item_id"].astype(str), ids)})
        return len(fresh)

    def _batch(self, histories: list[list[int]]) -> Batch:
        max_len, padding = self.cfg.backbone.max_len, self.cfg.padding
        rows = [h[-max_len:] for h in histories]
        width = max(1, max(len(r) for r in rows))
        items = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            if padding == "left":
                items[i, width - len(r) :] = r
            else:
                items[i, : len(r)] = r
        lengths = torch.as_tensor([len(r) for r in rows])
        return Batch(torch.as_tensor(items), torch.zeros(len(rows), dtype=torch.long), lengths, padding)

    def _known(self, histories: list[list[str]], users: list[str], skip_unknown: bool) -> tuple[list[int], list[list[int]]]:
        """(rows kept, their histories as item numbers); unknown ids are dropped with one
        warning per user that names them."""
        rows, known, empty, blank = [], [], [], []
        for n, (user, history) in enumerate(zip(users, histories)):
            if not history:
                blank.append(user)
                continue
            ids = [self.index[i] for i in history if i in self.index]
            dropped = [i for i in history if i not in self.index]
            if dropped:
                shown = ", ".join(dropped[:10]) + (f" and {len(dropped) - 10} more" if len(dropped) > 10 else "")
                log.warning("user %s: %d item id(s) this model does not know were dropped: %s", user, len(dropped), shown)
            if ids:
                rows.append(n)
                known.append(ids)
            else:
                empty.append(user)
        catalogue = f"none of the history's items is in this model's catalogue of {len(self.index)} items"
        for refused, error, skipped in (
            (blank, "empty history; give at least one item id, oldest first", "empty history"),
            (empty, f"{catalogue}; give the dataset's original item ids, oldest first", "no known item in their history"),
        ):
            if refused and not skip_unknown:
                more = f" and {len(refused) - 5} more" if len(refused) > 5 else ""
                raise DataError(f"user(s) {', '.join(map(str, refused[:5]))}{more}: {error}")
            if refused:
                log.warning("%d user(s) skipped, %s: %s", len(refused), skipped, ", ".join(map(str, refused[:10])))
        return rows, known

    @torch.no_grad()
    def recommend(
        self,
        histories: list[list[str]],
        k: int = 10,
        exclude_seen: bool = True,
        users: list[str] | None = None,
        skip_unknown: bool = False,
    ) -> pd.DataFrame:
        """One row per (history, rank): `row`, `rank`, `item_id`, `title`, `score`.

        `users` names the histories in warnings and errors (default: their row numbers).
        A history with no known item is an error naming its user, or, with `skip_unknown`,
        left out of the result."""
        users = [str(u) for u in users] if users is not None else [f"row {n}" for n in range(len(histories))]
        kept, known = self._known(histories, users, skip_unknown)
        if not kept:
            return pd.DataFrame({"row": [], "rank": [], "item_id": [], "title": [], "score": []}).astype(
                {"row": np.int64, "rank": np.int64, "item_id": object, "title": object, "score": float}
            )
        scores = self.model.full_sort_predict(self._batch(known))
        scores[:, 0] = float("-inf")
        if exclude_seen:
            for row, h in enumerate(known):
                scores[row, h] = float("-inf")
        top = torch.topk(scores, min(k, scores.shape[1] - 1), dim=1)
        idx, val = top.indices.numpy(), top.values.numpy()
        n, kk = idx.shape
        frame = pd.DataFrame(
            {
                "row": np.repeat(np.asarray(kept, dtype=np.int64), kk),
                "rank": np.tile(np.arange(1, kk + 1), n),
                "item_id": self.item_ids[idx.ravel()],
                "title": self.titles[idx.ravel()],
                "score": val.ravel().astype(float),
            }
        )
        # k beyond a user's unseen items: the masked ones (seen, padding) sort last; cut them off
        return frame[~np.isneginf(frame["score"].to_numpy())].reset_index(drop=True)
