"""The registered model: an MLflow pyfunc that maps user histories to top-K items.

Input: a DataFrame with `user_id` and `history` (the user's items, oldest first, as a list or
a space-separated string of original item ids). Output: one row per (user, rank) with
`item_id`, `title` and `score`. `params={"k": 20}` changes the list length.
"""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd

from h2rec.lifecycle.serving import Recommender

DEFAULT_K = 10


def parse_history(value) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    raise TypeError(f"history must be a list or a space-separated string, got {type(value).__name__}")


def recommend_frame(rec: Recommender, histories: pd.DataFrame, k: int = DEFAULT_K) -> pd.DataFrame:
    missing = {"user_id", "history"} - set(histories.columns)
    if missing:
        raise ValueError(f"input needs columns user_id and history; missing {sorted(missing)}")
    out = rec.recommend([parse_history(h) for h in histories["history"]], k)
    out.insert(0, "user_id", histories["user_id"].astype(str).to_numpy()[out.pop("row").to_numpy()])
    return out


class RecommenderPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.rec = Recommender(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        k = int((params or {}).get("k", DEFAULT_K))
        return recommend_frame(self.rec, model_input, k)
