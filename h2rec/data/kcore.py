"""Iterative k-core filtering of an event table."""

import pandas as pd


def kcore_filter(events: pd.DataFrame, k: int, user: str = "user_id", item: str = "item_id") -> pd.DataFrame:
    """Drop users and items with fewer than `k` events, repeatedly, until none is left.

    Removing a sparse item can push a user below `k` and vice versa, so one pass is not enough.
    """
    while True:
        user_ok = events.groupby(user)[item].transform("size") >= k
        item_ok = events.groupby(item)[user].transform("size") >= k
        keep = user_ok & item_ok
        if keep.all():
            return events.reset_index(drop=True)
        events = events[keep]
