"""The vectorised, chunked evaluator against a plain per-user loop."""

import numpy as np
import pytest
import torch

from h2rec.config import BackboneConfig, EvaluateConfig
from h2rec.eval.evaluator import TOP_K, Evaluator
from h2rec.eval.ranking import TIE_RTOL, TIE_SCALE_SAMPLE
from h2rec.models.losses import NextItemLoss
from h2rec.models.sasrec import SASRec
from tests.eval.tablemodel import TableModel
from tests.train.toy import toy_dataset

torch.set_num_threads(1)


def reference(scores: np.ndarray, data, split: str, prio: np.ndarray, negatives: np.ndarray):
    """Per user: plain loops over the catalogue, as the protocol reads in words."""
    full, sampled, tops = [], [], []
    for u in range(data.n_users):
        s = scores[u]
        start, end = data.offsets[u], data.history_end(split)[u]
        target = int(data.flat[end])
        history = set(data.flat[start:end].tolist()) - {target}
        t = s[target]
        tol = TIE_RTOL * (abs(t) + np.abs(s[1 : 1 + TIE_SCALE_SAMPLE]).mean())

        def beats(i):
            return s[i] > t + tol or (s[i] >= t - tol and prio[i] < prio[target])

        candidates = [i for i in range(1, data.n_items + 1) if i not in history]
        full.append(sum(beats(i) for i in candidates if i != target))
        sampled.append(sum(beats(int(i)) for i in negatives[u]))
        tops.append(sorted((s[i] for i in candidates), reverse=True)[:TOP_K])
    return np.array(full), np.array(sampled), tops


@pytest.mark.parametrize("split", ["valid", "test"])
@pytest.mark.parametrize("integer_scores", [False, True])
def test_matches_a_per_user_loop_on_random_scores(split, integer_scores):
    data = toy_dataset(n_users=37, n_items=41, seed=3, max_len=14, repeats=True)
    rng = np.random.default_rng(0)
    scores = (
        rng.integers(0, 5, (data.n_users, data.n_items + 1))
        if integer_scores
        else rng.normal(size=(data.n_users, data.n_items + 1))
    )
    scores = scores.astype(np.float32)
    ev = Evaluator(data, EvaluateConfig(user_batch=6, item_chunk=9, sampled_negatives=12))
    res = ev.cases(TableModel(torch.from_numpy(scores)), split, 5, "left")
    full, sampled, tops = reference(scores, data, split, ev.prio.numpy(), ev.negatives)
    assert np.array_equal(res.ranks["full"], full)
    assert np.array_equal(res.ranks["sampled12"], sampled)
    for u in range(data.n_users):  # same scores listed (order among ties is free)
        listed = sorted((scores[u, i] for i in res.top[u] if i > 0), reverse=True)
        assert np.allclose(listed, tops[u])


def test_sasrec_ranks_equal_ranks_from_its_own_full_sort_predict():
    data = toy_dataset(n_users=30, n_items=25, seed=1)
    torch.manual_seed(0)
    cfg = BackboneConfig(max_len=6, hidden=16, layers=1, heads=2, ffn=32, dropout=0.0, attn_dropout=0.0)
    model = SASRec(data.n_items, cfg, NextItemLoss("ce", data.n_items)).eval()
    ev = Evaluator(data, EvaluateConfig(user_batch=4, item_chunk=7, sampled_negatives=10))
    res = ev.cases(model, "test", 6, "right")
    with torch.no_grad():
        scores = model.full_sort_predict(data.eval_batch(np.arange(data.n_users), "test", 6, "right")).numpy()
    full, sampled, _ = reference(scores, data, "test", ev.prio.numpy(), ev.negatives)
    assert np.array_equal(res.ranks["full"], full)
    assert np.array_equal(res.ranks["sampled10"], sampled)


def test_metric_names_carry_protocol_and_group():
    data = toy_dataset(n_users=30, n_items=25, seed=1)
    m = Evaluator(data, EvaluateConfig(sampled_negatives=10)).evaluate(TableModel(torch.rand(30, 26)), "test", 6, "right")
    for protocol in ("full", "sampled10"):
        for group in ("overall", "head", "tail", "short", "long", "bucket0", "bucket4"):
            for k in (5, 10, 20):
                assert f"{protocol}/{group}/hr_{k}" in m and f"{protocol}/{group}/ndcg_{k}" in m
    assert "full/overall/tail_share_10" in m and "full/overall/coverage_10" in m
    assert not any("sampled" in k and ("coverage" in k or "tail_share" in k) for k in m)


def test_groups_split_the_cases():
    data = toy_dataset(n_users=50, n_items=25, seed=2)
    ev = Evaluator(data, EvaluateConfig())
    sizes = ev.sizes("test")
    assert sizes["head"] + sizes["tail"] == sizes["overall"] == 50
    assert sizes["short"] + sizes["long"] == 50
    assert sum(sizes[f"bucket{b}"] for b in range(5)) == 50


def test_evaluation_leaves_the_model_in_its_mode():
    data = toy_dataset(n_users=10, n_items=25)
    model = SASRec(data.n_items, BackboneConfig(max_len=6, hidden=8, ffn=8), NextItemLoss("ce", data.n_items))
    model.train()
    Evaluator(data, EvaluateConfig(sampled_negatives=5)).evaluate(model, "valid", 6, "right", ("full",))
    assert model.training
