from hypothesis import given
from hypothesis import strategies as st

from h2rec.lifecycle.gate import Candidate, decide

CHAMP = Candidate("1", "data-a", overall=0.050, tail=0.020)


def cand(overall, tail, data="data-a"):
    return Candidate("2", data, overall, tail)


def test_first_model_is_promoted():
    d = decide(cand(0.01, 0.0), None, 0.05)
    assert d.promote and "first" in d.reason


def test_worse_challenger_is_not_promoted():
    d = decide(cand(0.049, 0.030), CHAMP, 0.05)
    assert not d.promote and "not better overall" in d.reason


def test_better_challenger_is_promoted():
    d = decide(cand(0.055, 0.0195), CHAMP, 0.05)  # tail within 5% of 0.020
    assert d.promote and "better overall" in d.reason


def test_better_overall_but_tail_collapse_is_refused():
    d = decide(cand(0.060, 0.010), CHAMP, 0.05)
    assert not d.promote and "tail NDCG@10 0.01000 is below 0.01900" in d.reason


def test_new_data_version_replaces_stale_champion():
    d = decide(cand(0.001, 0.0, data="data-b"), CHAMP, 0.05)
    assert d.promote and "data-b" in d.reason


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_promotion_implies_strictly_better_overall_on_same_data(o1, t1, o2, t2):
    champion = Candidate("1", "d", o1, t1)
    d = decide(Candidate("2", "d", o2, t2), champion, 0.05)
    assert d.promote == (o2 > o1 and t2 >= t1 * 0.95)


def test_a_challenger_with_nan_metrics_is_never_promoted():
    for challenger in (cand(float("nan"), 0.02), cand(0.06, float("nan"))):
        assert not decide(challenger, CHAMP, 0.05).promote
        assert not decide(challenger, None, 0.05).promote


def test_an_unknown_data_version_is_judged_on_its_metrics():
    worse = decide(cand(0.040, 0.020, data="unversioned"), CHAMP, 0.05)
    assert not worse.promote and "not better overall" in worse.reason
    assert decide(cand(0.060, 0.020, data="unversioned"), CHAMP, 0.05).promote
    assert not decide(cand(0.040, 0.020), Candidate("1", "unversioned", 0.050, 0.020), 0.05).promote
