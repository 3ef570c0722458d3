"""Expectations on the canonical tables (after ingest) and on the split (after split).

Derived frames (per-user counts, text presence) turn row-set rules such as "every user has
exactly one test event" into column expectations that GX can count and quote examples of.
"""

from __future__ import annotations

from pathlib import Path

import great_expectations.expectations as gxe
import pandas as pd

from h2rec.config import PreprocessConfig, ValidateConfig
from h2rec.data.split import Prepared
from h2rec.validation.gx import Check, run_checks

SPLITS = ["train", "valid", "test"]
# Ids are opaque strings (so "-5" is a valid id), but never empty, huge or control characters.
MAX_ID_LENGTH = 256
CONTROL_CHARS = r"[\x00-\x1f\x7f]"


def _id_expectations(column: str) -> list:
    return [
        gxe.ExpectColumnValuesToNotBeNull(column=column),
        gxe.ExpectColumnValueLengthsToBeBetween(column=column, min_value=1, max_value=MAX_ID_LENGTH),
        gxe.ExpectColumnValuesToNotMatchRegex(column=column, regex=CONTROL_CHARS),
    ]


def _text_frame(items: pd.DataFrame) -> pd.DataFrame:
    text_cols = [c for c in items.columns if c not in ("item", "item_id") and items[c].dtype == "string"]
    # No text column at all (an atomic source without .item): every item counts as textless.
    text = items[text_cols].fillna("").agg(" ".join, axis=1).str.strip() if text_cols else pd.Series("", index=items.index)
    return pd.DataFrame({"item_id": items["item_id"], "text": text.replace("", None)})


def validate_canonical(interactions: pd.DataFrame, items: pd.DataFrame, cfg: ValidateConfig, report: Path) -> dict:
    catalogue = items["item_id"].dropna().unique().tolist()
    return run_checks(
        "canonical",
        [
            Check(
                "interactions",
                interactions,
                [
                    *_id_expectations("user_id"),
                    *_id_expectations("item_id"),
                    gxe.ExpectColumnValuesToNotBeNull(column="ts"),
                    gxe.ExpectColumnValuesToBeBetween(column="ts", min_value=0, max_value=cfg.max_timestamp),
                    gxe.ExpectColumnValuesToBeInSet(column="item_id", value_set=catalogue),
                    gxe.ExpectCompoundColumnsToBeUnique(column_list=["user_id", "item_id", "ts"]),
                ],
            ),
            Check(
                "items",
                _text_frame(items),
                [
                    *_id_expectations("item_id"),
                    gxe.ExpectColumnValuesToBeUnique(column="item_id"),
                    gxe.ExpectColumnValuesToNotBeNull(column="text", mostly=cfg.min_text_share),
                ],
            ),
        ],
        report,
    )


def _user_frame(inter: pd.DataFrame) -> pd.DataFrame:
    g = inter.groupby("user")
    counts = inter.pivot_table(index="user", columns="split", values="pos", aggfunc="size", fill_value=0)
    counts = counts.reindex(columns=SPLITS, fill_value=0)
    last_pos = inter.pivot_table(index="user", columns="split", values="pos", aggfunc="max")
    last_pos = last_pos.reindex(columns=SPLITS).fillna(-1)
    return pd.DataFrame(
        {
            "events": g.size(),
            "n_train": counts["train"],
            "n_valid": counts["valid"],
            "n_test": counts["test"],
            "last_train_pos": last_pos["train"],
            "valid_pos": last_pos["valid"],
            "test_pos": last_pos["test"],
        }
    ).reset_index()


def validate_split(prep: Prepared, pre: PreprocessConfig, report: Path) -> dict:
    inter, items, users = prep.interactions, prep.items, prep.users
    n_items, n_users = len(items), len(users)
    return run_checks(
        "split",
        [
            Check(
                "interactions",
                inter,
                [
                    gxe.ExpectColumnValuesToBeBetween(column="user", min_value=0, max_value=n_users - 1),
                    gxe.ExpectColumnValuesToBeBetween(column="item", min_value=1, max_value=n_items),
                    gxe.ExpectColumnValuesToBeInSet(column="split", value_set=SPLITS),
                    gxe.ExpectCompoundColumnsToBeUnique(column_list=["user", "pos"]),
                    gxe.ExpectCompoundColumnsToBeUnique(column_list=["user", "item"]),
                ],
            ),
            Check(
                "users",
                _user_frame(inter),
                [
                    gxe.ExpectColumnValuesToBeBetween(column="events", min_value=pre.k_core),
                    gxe.ExpectColumnValuesToBeBetween(column="n_train", min_value=1),
                    gxe.ExpectColumnValuesToBeBetween(column="n_valid", min_value=1, max_value=1),
                    gxe.ExpectColumnValuesToBeBetween(column="n_test", min_value=1, max_value=1),
                    # Disjoint and chronological: train < valid < test for every user.
                    gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="valid_pos", column_B="last_train_pos"),
                    gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="test_pos", column_B="valid_pos"),
                ],
            ),
            Check(
                "items",
                items,
                [
                    gxe.ExpectColumnValuesToBeUnique(column="item"),
                    gxe.ExpectColumnValuesToBeBetween(column="item", min_value=1, max_value=n_items),
                    gxe.ExpectColumnValuesToBeInSet(column="popularity", value_set=["head", "tail"]),
                    gxe.ExpectColumnValuesToBeBetween(column="bucket", min_value=0, max_value=pre.n_buckets - 1),
                    gxe.ExpectColumnValuesToBeBetween(column="train_count", min_value=0),
                ],
            ),
            Check(
                "user_groups",
                users,
                [gxe.ExpectColumnValuesToBeInSet(column="length_group", value_set=["short", "long"])],
            ),
        ],
        report,
    )
