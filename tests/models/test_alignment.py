import math

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from h2rec.models.alignment import positive_weights, soft_contrastive, soft_targets, two_way_infonce, weighted_infonce

torch.set_num_threads(1)


def reference_infonce(a, b, w, t):
    """Row by row, straight from the formula."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    total = 0.0
    for i in range(len(a)):
        s = [float(a[i] @ b[j]) / t for j in range(len(b))]
        num = sum(float(w[i, j]) * math.exp(s[j]) for j in range(len(b)))
        den = sum(math.exp(x) for x in s)
        total += -math.log(num / den)
    return total / len(a)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 6), seed=st.integers(0, 10_000), t=st.sampled_from([0.1, 0.5, 1.0]))
def test_weighted_infonce_matches_the_formula(n, seed, t):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n, 4, generator=g), torch.randn(n, 4, generator=g)
    w = torch.eye(n) + (torch.rand(n, n, generator=g) > 0.7).float() * torch.rand(n, n, generator=g)
    w = w.clamp(max=1.0)
    assert math.isclose(float(weighted_infonce(a, b, w, t)), reference_infonce(a, b, w, t), rel_tol=1e-4, abs_tol=1e-5)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 6), seed=st.integers(0, 10_000), t=st.sampled_from([0.1, 0.5, 1.0]))
def test_two_way_infonce_is_the_mean_of_both_directions(n, seed, t):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n, 4, generator=g), torch.randn(n, 4, generator=g)
    w = (torch.eye(n) + (torch.rand(n, n, generator=g) > 0.6).float() * torch.rand(n, n, generator=g)).clamp(max=1.0)
    both = 0.5 * (reference_infonce(a, b, w, t) + reference_infonce(b, a, w.T, t))  # w not symmetric: the transpose matters
    assert math.isclose(float(two_way_infonce(a, b, w, t)), both, rel_tol=1e-4, abs_tol=1e-5)


def test_perfect_alignment_is_minimal_and_misalignment_costs():
    z = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])  # two items, views identical, as far apart as possible
    eye = torch.eye(2)
    aligned = float(two_way_infonce(z, z, eye, 0.5))
    assert math.isclose(aligned, math.log1p(math.exp(-4.0)), rel_tol=1e-5)  # cos +1 vs -1 at t=0.5
    assert float(two_way_infonce(z, z.flip(0), eye, 0.5)) > 4.0  # each view closest to the other item
    assert float(two_way_infonce(z, z, eye, 0.01)) < 1e-6  # zero in the sharp limit


def test_loss_is_never_negative_and_extra_positives_lower_it():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    eye = torch.eye(8)
    more = eye.clone()
    more[0, 1] = more[1, 0] = 1.0
    plain, extra = float(two_way_infonce(a, b, eye, 0.5)), float(two_way_infonce(a, b, more, 0.5))
    assert 0.0 < extra < plain


def test_positive_weights_same_tuple_and_cooccurrence():
    items = torch.tensor([3, 5, 7, 9])
    groups = torch.tensor([0, 0, 1, 2])  # items 3 and 5 share their SID tuple
    n_items = 10
    neighbours = torch.zeros(n_items + 1, 2, dtype=torch.long)
    weights = torch.zeros(n_items + 1, 2)
    neighbours[7] = torch.tensor([9, 2])  # 2 is not in the batch: ignored
    weights[7] = torch.tensor([0.5, 1.0])
    w = positive_weights(items, groups, neighbours, weights, n_items)
    expected = torch.eye(4)
    expected[0, 1] = expected[1, 0] = 1.0
    expected[2, 3] = expected[3, 2] = 0.5  # symmetrised
    assert torch.equal(w, expected)
    assert torch.equal(positive_weights(items), torch.eye(4))


def test_gradients_pull_views_together():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(6, 8, generator=g, requires_grad=True)
    b = torch.randn(6, 8, generator=g)
    opt = torch.optim.Adam([a], lr=0.05)
    before = float(two_way_infonce(a, b, torch.eye(6), 0.5).detach())
    for _ in range(100):
        opt.zero_grad()
        two_way_infonce(a, b, torch.eye(6), 0.5).backward()
        opt.step()
    after = float(two_way_infonce(a, b, torch.eye(6), 0.5).detach())
    sim = F.normalize(a.detach(), dim=-1) @ F.normalize(b, dim=-1).T
    assert after < before
    assert torch.equal(sim.argmax(1), torch.arange(6))  # every item now closest to its own other view


def reference_soft_contrastive(x, y, t):
    """The method's L_mask, element by element: raw dot products, soft targets, both directions."""
    n = len(x)
    dot = lambda a, b: float(a @ b)  # noqa: E731
    sim = [[(dot(x[i], x[j]) + dot(y[i], y[j])) / 2 * t for j in range(n)] for i in range(n)]
    target = [[math.exp(s) / sum(math.exp(v) for v in row) for s in row] for row in sim]
    total = 0.0
    for direction in ((x, y), (y, x)):
        a, b = direction
        for i in range(n):
            logits = [dot(a[i], b[j]) / t for j in range(n)]
            log_z = math.log(sum(math.exp(v) for v in logits))
            total += -sum(target[i][j] * (logits[j] - log_z) for j in range(n))
    return total / (2 * n)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 6), seed=st.integers(0, 10_000), t=st.sampled_from([0.5, 1.0, 2.0]))
def test_soft_contrastive_matches_the_formula(n, seed, t):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 3, generator=g), torch.randn(n, 3, generator=g)
    assert math.isclose(float(soft_contrastive(x, y, t)), reference_soft_contrastive(x, y, t), rel_tol=1e-4, abs_tol=1e-5)


def test_soft_contrastive_on_layernorm_scale_vectors_falls_far_below_chance():
    """At norm sqrt(d) the raw logits are sharp: matched views score near the targets' entropy,
    far below log(N), while unrelated views stay above it; the targets carry no gradient."""
    g = torch.Generator().manual_seed(0)
    n, d = 64, 64
    x = F.layer_norm(torch.randn(n, d, generator=g), (d,))
    matched = float(soft_contrastive(x, x + 0.1 * torch.randn(n, d, generator=g), 1.0))
    unrelated = float(soft_contrastive(x, F.layer_norm(torch.randn(n, d, generator=g), (d,)), 1.0))
    assert matched < 0.1 * math.log(n) and unrelated > math.log(n)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    assert soft_targets(a, b, 1.0).requires_grad is False
