"""The registered model: an MLflow pyfunc that maps user histories to top-K items.

Input: a DataFrame with `user_id` and `history` (the user's items, oldest first, as a list or
a space-separated string of original item ids). Output: one row per (user, rank) with
`item_id`, `title` and `score`. `params={"k": 20}` changes the list length.

The model is logged *from code* (`log_recommender`): MLflow stores the file `model_code.py`
beside the bundle and runs it at load time, so loading it unpickles no Python object.
A request the model cannot answer (wrong types, k <= 0, no known item) raises an
MlflowException with INVALID_PARAMETER_VALUE, which MLflow's scoring server answers with
HTTP 400 and the message, never a 500.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from h2rec.errors import H2RecError
from h2rec.lifecycle.serving import Recommender

DEFAULT_K = 10
MODEL_CODE = Path(__file__).with_name("model_code.py")
PACKAGE = Path(__file__).resolve().parents[1]  # h2rec/, shipped with the model as its code


def parse_history(value, user: object = None) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    who = f"user {user}: " if user is not None else ""
    raise TypeError(f"{who}history must be a list or a space-separated string of item ids, got {type(value).__name__}")


def recommend_frame(rec: Recommender, histories: pd.DataFrame, k: int = DEFAULT_K, skip_unknown: bool = False) -> pd.DataFrame:
    """Top-k rows per user; `skip_unknown` leaves out users none of whose items the model knows
    (a warning names them) instead of failing."""
    missing = {"user_id", "history"} - set(histories.columns)
    if missing:
        raise ValueError(f"input needs columns user_id and history; missing {sorted(missing)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    users = histories["user_id"].astype(str).to_numpy()
    parsed = [parse_history(h, u) for h, u in zip(histories["history"], users)]
    out = rec.recommend(parsed, int(k), users=list(users), skip_unknown=skip_unknown)
    out.insert(0, "user_id", users[out.pop("row").to_numpy()])
    return out


class RecommenderPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.rec = Recommender(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from mlflow.exceptions import MlflowException

        k = (params or {}).get("k", DEFAULT_K)
        try:
            return recommend_frame(self.rec, model_input, k)
        except (H2RecError, ValueError, TypeError) as e:
            # The request is at fault: a 400 with the message, not a stack trace.
            raise MlflowException.invalid_parameter_value(str(e)) from None


def log_recommender(bundle: Path, example: pd.DataFrame, top_k: int, name: str = "recommender"):
    """Log the bundle as a models-from-code pyfunc into the active MLflow run; return its ModelInfo."""
    from mlflow.models import infer_signature

    output = recommend_frame(Recommender(bundle), example, top_k)
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; `rank` never is missing.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(MODEL_CODE),
            artifacts={"bundle": str(bundle)},
            code_paths=[str(PACKAGE)],
            input_example=example,
            signature=infer_signature(example, output, params={"k": top_k}),
            pip_requirements=_requirements(),
        )


def _requirements() -> list[str]:
    from importlib.metadata import version

    names = ["torch", "numpy", "pandas", "pyarrow", "pydantic", "pyyaml", "mlflow"]
    return [f"{n}=={version(n).split('+')[0]}" for n in names]
