"""A group without test cases: no metrics and no NaN, only its count 0; reports still work."""

import csv
import json
import math
from types import SimpleNamespace

import numpy as np

from h2rec.eval import report
from h2rec.eval.groups import FULL, group_metrics, group_sizes

KS = [5, 10]


def tiny_data():
    """Items 1..4 (0 = padding): 1 and 2 are head; buckets 0..1; users 0..2, user 2 long."""
    return SimpleNamespace(
        is_head=np.array([False, True, True, False, False]),
        bucket=np.array([-1, 1, 1, 0, 0]),
        is_long=np.array([False, False, True]),
        n_items=4,
    )


def test_a_group_without_cases_has_only_its_count():
    data = tiny_data()
    users, targets = np.arange(3), np.array([1, 2, 1])  # every target is a head item: no tail case
    ranks = {FULL: np.array([0, 3, 12]), "sampled100": np.array([0, 1, 2])}
    top = np.array([[1, 2, 3], [2, 1, 3], [3, 1, 2]])
    metrics = group_metrics(data, users, targets, ranks, KS, top)

    assert not any(isinstance(v, float) and math.isnan(v) for v in metrics.values())
    assert metrics["full/tail/cases"] == 0 and metrics["sampled100/tail/cases"] == 0
    assert metrics["full/bucket0/cases"] == 0
    assert not [k for k in metrics if k.startswith("full/tail/") and k != "full/tail/cases"]
    assert math.isclose(metrics["full/head/ndcg_5"], (1 + 1 / math.log2(5) + 0) / 3)
    json.dumps(metrics, allow_nan=False)  # a valid metrics file for DVC
    assert group_sizes(data, users, targets)["tail"] == 0


def test_reports_leave_the_empty_group_out(tmp_path):
    data = tiny_data()
    users, targets = np.arange(3), np.array([1, 2, 1])
    ranks = {FULL: np.array([0, 3, 12]), "sampled100": np.array([0, 1, 2])}
    metrics = group_metrics(data, users, targets, ranks, KS)
    sizes = group_sizes(data, users, targets)
    protocols = [FULL, "sampled100"]

    rows = report.group_rows(metrics, sizes, FULL, KS)
    assert [r["group"] for r in rows] == ["overall", "head", "short", "long", "bucket1"]
    report.write_csv(rows, tmp_path / "full.csv")
    with open(tmp_path / "full.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 5
    table = report.format_table(metrics, sizes, protocols)
    assert "tail" in table and "(no test cases)" in table and "nan" not in table
    report.plot_head_tail(metrics, protocols, tmp_path / "head_tail.png")
    report.plot_buckets(metrics, protocols, tmp_path / "buckets.png")
    assert (tmp_path / "head_tail.png").stat().st_size > 0 and (tmp_path / "buckets.png").stat().st_size > 0


def test_the_papers_grouping_counts_whole_sequences_and_history_lengths():
    from h2rec.eval.groups import case_groups

    data = tiny_data()
    data.flat = np.array([1, 1, 1, 3, 2, 1, 3, 3, 4])  # whole sequences: item 1 x4, 2 x1, 3 x3, 4 x1
    users, targets, history = np.arange(3), np.array([1, 3, 4]), np.array([2, 9, 12])
    groups = case_groups(data, users, targets, history, paper=(3, 10))
    occurrences = {i: int((data.flat == i).sum()) for i in range(5)}
    assert groups["paper_head"].tolist() == [occurrences[t] >= 3 for t in targets] == [True, True, False]
    assert groups["paper_tail"].tolist() == [False, False, True]
    assert groups["paper_short"].tolist() == [True, True, False] and groups["paper_long"].tolist() == [False, False, True]
    assert groups["head"].tolist() == [True, False, False]  # ours: training popularity, unchanged
    assert "paper_head" not in case_groups(data, users, targets)  # only when asked
