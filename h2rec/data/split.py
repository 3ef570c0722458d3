"""From canonical events to the leave-one-out split with popularity and user groups.

Items are numbered 1..I in catalogue order (0 is padding for every model); users 0..U-1 in
order of first appearance. Per user the last event is the test target, the one before it the
validation target, the rest is training. Popularity is counted on the training split only, so
no test information leaks into the head/tail labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from h2rec.config import PreprocessConfig
from h2rec.data.kcore import kcore_filter
from h2rec.errors import DataError


# Columns `prepare` adds to the items table beside the dataset's own (ids and text).
ITEM_GROUP_COLUMNS = ("train_count", "popularity", "bucket")


@dataclass(frozen=True)
class Prepared:
    interactions: pd.DataFrame  # user, item, pos, split
    items: pd.DataFrame  # item, item_id, text..., train_count, popularity, bucket
    users: pd.DataFrame  # user, user_id, n_train, length_group


def prepare(interactions: pd.DataFrame, items: pd.DataFrame, cfg: PreprocessConfig) -> Prepared:
    events = interactions.reset_index(drop=True)
    events["order"] = np.arange(len(events))
    events = kcore_filter(events, cfg.k_core)
    if events.empty:
        raise DataError(f"no user and item keeps {cfg.k_core} interactions after k-core filtering")
    events = events.sort_values(["ts", "order"], kind="stable")
    events = events.sort_values("user_id", key=_first_seen(events["user_id"]), kind="stable")

    catalogue = items[items["item_id"].isin(set(events["item_id"]))].reset_index(drop=True)
    item_index = pd.Series(np.arange(1, len(catalogue) + 1, dtype="int32"), index=catalogue["item_id"])
    user_codes, user_ids = pd.factorize(events["user_id"])

    table = pd.DataFrame(
        {
            "user": user_codes.astype("int32"),
            "item": item_index.reindex(events["item_id"]).to_numpy(),
        }
    )
    if table["item"].isna().any():
        missing = events.loc[table["item"].isna().to_numpy(), "item_id"].unique()[:5].tolist()
        raise DataError(f"interacted items missing from the items table, e.g. {missing}")
    table["item"] = table["item"].astype("int32")
    table["pos"] = table.groupby("user").cumcount().astype("int32")
    length = table.groupby("user")["pos"].transform("size")
    back = length - table["pos"]  # 1 = last event
    table["split"] = np.select([back == 1, back == 2], ["test", "valid"], "train")
    table["split"] = table["split"].astype("string")

    item_table = _item_groups(catalogue, table, cfg)
    user_table = _user_groups(user_ids, table, cfg)
    return Prepared(table, item_table, user_table)


def _first_seen(users: pd.Series):
    rank = {u: i for i, u in enumerate(pd.unique(users))}
    return lambda s: s.map(rank)


def _item_groups(catalogue: pd.DataFrame, table: pd.DataFrame, cfg: PreprocessConfig) -> pd.DataFrame:
    n_items = len(catalogue)
    train = table[table["split"] == "train"]
    counts = np.bincount(train["item"], minlength=n_items + 1)[1:].astype("int64")
    # Stable orders make ties deterministic: equal counts fall back to item number.
    by_pop_desc = np.argsort(-counts, kind="stable")
    n_head = max(1, int(round(cfg.head_share * n_items)))
    popularity = np.full(n_items, "tail", dtype=object)
    popularity[by_pop_desc[:n_head]] = "head"
    rank_asc = np.empty(n_items, dtype=np.int64)
    rank_asc[np.argsort(counts, kind="stable")] = np.arange(n_items)
    bucket = (rank_asc * cfg.n_buckets // n_items).astype("int8")

    out = catalogue.copy()
    out.insert(0, "item", np.arange(1, n_items + 1, dtype="int32"))
    out["train_count"] = counts
    out["popularity"] = pd.array(popularity, dtype="string")
    out["bucket"] = bucket
    return out


def _user_groups(user_ids: pd.Index, table: pd.DataFrame, cfg: PreprocessConfig) -> pd.DataFrame:
    n_train = table[table["split"] == "train"].groupby("user").size()
    n_train = n_train.reindex(range(len(user_ids)), fill_value=0).to_numpy().astype("int32")
    return pd.DataFrame(
        {
            "user": np.arange(len(user_ids), dtype="int32"),
            "user_id": pd.array(user_ids.astype(str), dtype="string"),
            "n_train": n_train,
            "length_group": pd.array(
                np.where(n_train <= cfg.short_user_max_len, "short", "long"), dtype="string"
            ),
        }
    )
