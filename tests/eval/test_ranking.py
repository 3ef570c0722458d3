import torch

from h2rec.config import EvaluateConfig
from h2rec.data.sequences import SeqDataset
from h2rec.eval.evaluator import Evaluator
from tests.eval.tablemodel import TableModel
from tests.train.toy import frames


def one_user(seq: list[int], scores: list[float]) -> tuple[SeqDataset, TableModel]:
    data = SeqDataset.from_frames(*frames([seq], n_items=len(scores)))
    return data, TableModel(torch.tensor([[float("nan"), *scores]]))


def test_seen_items_are_masked_and_the_target_kept():
    # history (test split) = [2, 5], target 3; items 2 and 5 score above the target, 4 too
    data, model = one_user([2, 5, 3], [0.1, 0.9, 0.5, 0.6, 0.8, 0.2])
    res = Evaluator(data, EvaluateConfig(sampled_negatives=2)).cases(model, "test", 50, "right")
    assert res.ranks["full"][0] == 1  # only item 4 beats it once 2 and 5 are masked
    assert res.top[0, :4].tolist() == [4, 3, 6, 1]  # history masked, target listed
    assert res.top[0, 4:].tolist() == [0] * 6  # fewer than 10 candidates: padded with 0


def test_valid_split_masks_train_items_only():
    # valid split: history = [2], target 5; test item 3 is not history and competes
    data, model = one_user([2, 5, 3], [0.1, 0.9, 0.5, 0.6, 0.8, 0.2])
    res = Evaluator(data, EvaluateConfig(sampled_negatives=2)).cases(model, "valid", 50, "right")
    assert res.ranks["full"][0] == 0


def test_target_seen_before_stays_a_candidate():
    # history [3, 2], target 3 again: 2 is masked, 3 is not
    data, model = one_user([3, 2, 3], [0.1, 0.9, 0.5, 0.6, 0.8, 0.2])
    res = Evaluator(data, EvaluateConfig(sampled_negatives=2)).cases(model, "test", 50, "right")
    assert res.ranks["full"][0] == 2  # items 5 and 4
    assert 3 in res.top[0].tolist() and 2 not in res.top[0].tolist()


def test_ties_are_broken_by_a_fixed_item_order():
    data, model = one_user([1, 2, 3], [1.0] * 20)  # every item scores the same
    ev = Evaluator(data, EvaluateConfig(sampled_negatives=5, seed=7))
    res = ev.cases(model, "test", 50, "right")
    prio = ev.prio.numpy()
    candidates = [i for i in range(1, 21) if i not in (1, 2, 3)]
    assert res.ranks["full"][0] == sum(prio[i] < prio[3] for i in candidates)
    neg = ev.negatives[0]
    assert res.ranks[ev.sampled][0] == sum(prio[i] < prio[3] for i in neg)
    again = Evaluator(data, EvaluateConfig(sampled_negatives=5, seed=7)).cases(model, "test", 50, "right")
    assert again.ranks["full"][0] == res.ranks["full"][0]


def test_constant_scores_give_chance_level_not_a_perfect_score():
    seqs = [[u % 50 + 1, (u + 7) % 50 + 1, (u + 13) % 50 + 1] for u in range(400)]
    data = SeqDataset.from_frames(*frames(seqs, n_items=50))
    model = TableModel(torch.zeros(400, 51))
    m = Evaluator(data, EvaluateConfig(sampled_negatives=20)).evaluate(model, "test", 50, "right")
    assert 0.1 < m["full/overall/hr_10"] < 0.3  # 10 of ~48 candidates
    assert 0.35 < m["sampled20/overall/hr_10"] < 0.65  # 10 of 21


def test_a_nan_target_score_ranks_last_not_first():
    # a broken model: NaN for every item would lose every comparison and rank the target first
    data, model = one_user([2, 5, 3], [float("nan")] * 20)
    ev = Evaluator(data, EvaluateConfig(sampled_negatives=12))
    res = ev.cases(model, "test", 50, "right")
    assert res.ranks["full"][0] == 20 and res.ranks[ev.sampled][0] == 12
    assert ev.evaluate(model, "test", 50, "right")["full/overall/hr_10"] == 0.0
