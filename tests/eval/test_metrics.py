import math

import numpy as np

from h2rec.eval.metrics import coverage, hit, ndcg, rank_metrics, selection_name, selection_score, tail_share


def test_hr_and_ndcg_for_known_ranks():
    ranks = np.array([0, 1, 4, 9, 10, 25])
    m = rank_metrics(ranks, [1, 5, 10])
    assert m["hr_1"] == 1 / 6
    assert m["hr_5"] == 3 / 6
    assert m["hr_10"] == 4 / 6
    assert math.isclose(m["ndcg_5"], (1 + 1 / math.log2(3) + 1 / math.log2(6)) / 6)
    assert math.isclose(m["ndcg_10"], (1 + 1 / math.log2(3) + 1 / math.log2(6) + 1 / math.log2(11)) / 6)


def test_rank_zero_is_a_perfect_hit():
    assert hit(np.array([0]), 1)[0] == 1.0 and ndcg(np.array([0]), 1)[0] == 1.0
    assert hit(np.array([1]), 1)[0] == 0.0 and ndcg(np.array([1]), 1)[0] == 0.0


def test_empty_group_gives_nan():
    m = rank_metrics(np.array([], dtype=int), [10])
    assert math.isnan(m["hr_10"]) and math.isnan(m["ndcg_10"])


def test_tail_share_and_coverage():
    is_head = np.array([False, True, True, False, False, False])  # item 0 = padding
    top = np.array([[1, 3, 4], [2, 5, 0]])  # user 2 has only two items listed
    assert math.isclose(tail_share(top, is_head), (2 / 3 + 1 / 2) / 2)
    assert coverage(top, n_items=5) == 5 / 5
    assert coverage(np.array([[1, 1], [1, 2]]), n_items=4) == 2 / 4


def test_selection_score_is_the_weighted_mean_of_group_ndcg():
    metrics = {"full/overall/ndcg_10": 0.08, "full/head/ndcg_10": 0.14, "full/tail/ndcg_10": 0.04}
    assert selection_score(metrics, {"overall": 1.0}) == 0.08
    assert math.isclose(selection_score(metrics, {"head": 1.0, "tail": 1.0}), 0.09)
    assert math.isclose(selection_score(metrics, {"head": 1.0, "tail": 3.0}), (0.14 + 3 * 0.04) / 4)
    assert selection_score(metrics, {"overall": 0.0, "tail": 1.0, "short": 0.0}) == 0.04  # no metric needed at weight 0
    assert selection_name({"overall": 1.0}) == "NDCG@10"
    assert selection_name({"head": 1.0, "tail": 1.0, "long": 0.0}) == "NDCG@10 weighted head 1, tail 1"
