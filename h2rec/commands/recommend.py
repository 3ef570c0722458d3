"""`h2rec recommend`: top-K lists with titles for a file of user histories.

    h2rec recommend --histories users.csv                     # models:/h2rec@champion
    h2rec recommend --histories users.csv --model models/recommender --k 20 --out recs.csv
    h2rec recommend --histories users.csv --new-items new_sids.parquet   # cold-start items

The histories file (CSV, Parquet or JSON lines) has `user_id` and `history`: the user's items,
oldest first, space-separated original item ids. Ids the model does not know are dropped with
a warning per user naming them; a user none of whose items it knows is an error naming the
user. New items come from `h2rec tokenize --items ... --out new_sids.parquet` and are ranked by
their Semantic IDs. `score_file` is the batch version (flows/batch.py).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from h2rec import paths
from h2rec.data.readers import read_table
from h2rec.errors import DataError
from h2rec.io import atomic_path, write_parquet
from h2rec.lifecycle.pyfunc import DEFAULT_K, recommend_frame
from h2rec.lifecycle.serving import MODEL, Recommender, make_bundle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--histories", type=Path, required=True, help="CSV/Parquet/JSONL with user_id, history")
    parser.add_argument(
        "--model",
        default="models:/h2rec@champion",
        help="registry URI, a bundle folder or a checkpoint folder (default: %(default)s)",
    )
    parser.add_argument("--k", type=int, default=DEFAULT_K, help="list length (default: %(default)s)")
    parser.add_argument("--new-items", type=Path, help="new items with code_0.. columns (cold start)")
    parser.add_argument("--out", type=Path, help="write CSV/Parquet here instead of printing")


def load_recommender(model: str) -> Recommender:
    if model.startswith(("models:/", "runs:/")):
        import mlflow

        from h2rec.tracking.run import tracking_uri

        mlflow.set_tracking_uri(tracking_uri())
        try:
            return mlflow.pyfunc.load_model(model).unwrap_python_model().rec
        except mlflow.exceptions.MlflowException as e:
            raise DataError(f"{model}: cannot load from {tracking_uri()}: {e.message}") from None
    path = Path(model)
    if (path / MODEL).is_dir():
        return Recommender(path)
    if (path / "best.pt").exists():  # a training folder of this project: bundle it with data/
        bundle = make_bundle(Path(tempfile.mkdtemp(prefix="h2rec-bundle-")), path, paths.PREPARED)
        return Recommender(bundle)
    raise DataError(f"{model}: neither a registry URI, a bundle nor a folder with best.pt")


def read_histories(path: Path) -> pd.DataFrame:
    if path.suffix in (".jsonl", ".json"):
        from h2rec.data.readers import iter_json_lines

        return pd.DataFrame(list(iter_json_lines(path)))
    return read_table(path)


def score_file(rec: Recommender, users: Path, out: Path, k: int, chunk: int = 2048) -> dict[str, int]:
    """Top-k lists for every user of a users file (CSV/Parquet/JSONL with user_id, history),
    written to `out` as Parquet atomically (all of it or nothing). Users none of whose items
    the model knows are skipped with a warning naming them, so one stale row does not fail
    a batch; the counts are returned."""
    if not Path(users).is_file():
        raise DataError(f"{users}: users file not found; write user_id,history rows there (or pass another file)")
    histories = read_histories(Path(users))
    frames = []
    for start in range(0, len(histories), chunk):  # bounded memory: chunk x catalogue scores
        try:
            frames.append(recommend_frame(rec, histories.iloc[start : start + chunk], k, skip_unknown=True))
        except (ValueError, TypeError) as e:
            raise DataError(f"{users}: {e}") from None
    result = pd.concat(frames, ignore_index=True)
    write_parquet(result, out)
    scored = int((result["rank"] == 1).sum())
    return {"users": len(histories), "users_scored": scored, "users_skipped": len(histories) - scored, "rows": len(result)}


def main(args: argparse.Namespace) -> int:
    rec = load_recommender(args.model)
    if args.new_items:
        added = rec.add_items(read_table(args.new_items))
        print(f"cold start: {added} new item(s) ranked by their Semantic IDs")
    histories = read_histories(args.histories)
    try:
        out = recommend_frame(rec, histories, args.k)
    except (ValueError, TypeError, DataError) as e:
        raise DataError(f"{args.histories}: {e}") from None
    if args.out:
        with atomic_path(args.out) as tmp:
            out.to_parquet(tmp, index=False) if args.out.suffix == ".parquet" else out.to_csv(tmp, index=False)
        print(f"wrote {len(out)} rows to {args.out}")
    else:
        with pd.option_context("display.max_rows", 200, "display.max_colwidth", 60, "display.width", 160):
            print(out.to_string(index=False))
    return 0
