import pytest
import torch
import torch.nn.functional as F

from h2rec.models.losses import (
    CE_CHUNK,
    CodedItems,
    NextItemLoss,
    _sampled_ce,
    bce_sampled,
    full_softmax,
    log_prior,
    sampled_softmax,
)

torch.set_num_threads(1)


def setup(n=2 * CE_CHUNK + 37, items=50, d=8):
    torch.manual_seed(0)
    h = torch.randn(n, d, requires_grad=True)
    table = torch.randn(items + 1, d, requires_grad=True)
    targets = torch.randint(1, items + 1, (n,))
    return h, table, targets


def test_chunked_softmax_ce_equals_torch_cross_entropy_values_and_gradients():
    h, table, targets = setup()
    ours = full_softmax(h, targets, lambda ids: table if ids is None else table[ids])
    g_h, g_t = torch.autograd.grad(ours * 3.0, (h, table))  # a non-unit upstream gradient
    ref = F.cross_entropy(h @ table[1:].T, targets - 1)
    r_h, r_t = torch.autograd.grad(ref * 3.0, (h, table))
    assert torch.allclose(ours, ref, atol=1e-5)
    assert torch.allclose(g_h, r_h, atol=1e-6) and torch.allclose(g_t, r_t, atol=1e-6)
    assert g_t[0].abs().sum() == 0  # padding is not a class


@pytest.mark.parametrize("pooling", ["mean", "sum"])
def test_coded_softmax_equals_cross_entropy_over_the_built_table(pooling):
    """Scoring the SID half per code and gathering gives the loss and every gradient of the
    plain softmax over [hid; pooled code vectors], logit adjustment included."""
    torch.manual_seed(0)
    n, items, d_hid, d_sid, levels, k = 2 * CE_CHUNK + 37, 50, 8, 6, 3, 5
    h = torch.randn(n, d_hid + d_sid, requires_grad=True)
    hid = torch.randn(items + 1, d_hid, requires_grad=True)
    code_vectors = torch.randn(levels * (k + 1), d_sid, requires_grad=True)  # each level: padding row + k codes
    codes = torch.stack([torch.randint(1, k + 1, (items + 1,)) + l * (k + 1) for l in range(levels)], 1)
    targets = torch.randint(1, items + 1, (n,))
    bias = torch.randn(items)

    def table(ids=None):
        sid = code_vectors[codes].mean(1) if pooling == "mean" else code_vectors[codes].sum(1)
        t = torch.cat([hid, sid], 1)
        return t if ids is None else t[ids]

    ours = full_softmax(h, targets, table, bias, CodedItems(hid, codes, code_vectors, pooling))
    grads = torch.autograd.grad(ours * 3.0, (h, hid, code_vectors))
    ref = F.cross_entropy(h @ table()[1:].T + bias, targets - 1)
    ref_grads = torch.autograd.grad(ref * 3.0, (h, hid, code_vectors))
    assert torch.allclose(ours, ref, atol=1e-5)
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r, atol=1e-6)
    assert grads[1][0].abs().sum() == 0  # padding is not a class
    with torch.no_grad():  # without gradients: the plain product over the built table
        assert torch.allclose(full_softmax(h, targets, table, bias, CodedItems(hid, codes, code_vectors, pooling)), ref)


def test_bce_ignores_negatives_equal_to_the_target():
    torch.manual_seed(0)
    h = torch.zeros(4, 3)
    table = torch.zeros(3, 3)  # every logit 0: each term is log 2
    targets = torch.tensor([1, 2, 1, 2])
    loss = bce_sampled(h, targets, lambda ids: table[ids], n_items=2, n_neg=50)
    torch.manual_seed(0)
    neg = torch.randint(1, 3, (4, 50))
    expected = (torch.log(torch.tensor(2.0)) * (1 + (neg != targets[:, None]).sum(1))).mean()
    assert torch.allclose(loss, expected)


def test_shared_sampled_softmax_masks_accidental_hits():
    torch.manual_seed(0)
    h = torch.randn(6, 4)
    table = torch.randn(4, 4)
    targets = torch.tensor([1, 2, 3, 1, 2, 3])
    torch.manual_seed(1)
    loss = sampled_softmax(h, targets, lambda ids: table[ids], n_items=3, n_neg=40, shared=True)
    torch.manual_seed(1)
    neg = torch.randint(1, 4, (40,))
    logits = torch.cat([(h * table[targets]).sum(1, keepdim=True), h @ table[neg].T], 1)
    logits[:, 1:][neg[None, :] == targets[:, None]] = float("-inf")
    assert torch.allclose(loss, F.cross_entropy(logits, torch.zeros(6, dtype=torch.long)))


def test_per_position_sampled_softmax_equals_a_loop_over_positions():
    torch.manual_seed(0)
    h = torch.randn(7, 4, requires_grad=True)
    table = torch.randn(6, 4)
    targets = torch.tensor([1, 2, 3, 4, 5, 1, 2])
    torch.manual_seed(1)
    loss = sampled_softmax(h, targets, lambda ids: table if ids is None else table[ids], n_items=5, n_neg=9)
    torch.manual_seed(1)
    neg = torch.randint(1, 6, (7, 9))
    per_position = []
    for i in range(7):  # each position against its own negatives, hits left out
        others = neg[i][neg[i] != targets[i]]
        logits = torch.cat([(h[i] * table[targets[i]]).sum()[None], table[others] @ h[i]])
        per_position.append(-F.log_softmax(logits, 0)[0])
    assert torch.allclose(loss, torch.stack(per_position).mean(), atol=1e-6)
    assert (neg == targets[:, None]).any() and len(set(neg.flatten().tolist())) > 1  # the test covers hits


def test_catalogue_and_gather_routes_give_the_same_loss_and_gradients():
    torch.manual_seed(0)
    h = torch.randn(9, 4, requires_grad=True)
    table = torch.randn(31, 4, requires_grad=True)
    targets = torch.randint(1, 31, (9,))
    neg = torch.randint(1, 31, (9, 12))
    neg[0, 3] = targets[0]  # an accidental hit
    vec = lambda ids: table if ids is None else table[ids]  # noqa: E731
    out = {}
    for route in ("catalogue", "gather"):
        loss = _sampled_ce(h, targets, neg, vec, route)
        out[route] = (loss, *torch.autograd.grad(loss, (h, table)))
    for a, b in zip(out["catalogue"], out["gather"]):
        assert torch.allclose(a, b, atol=1e-6)


def test_per_position_negatives_differ_between_positions_and_shared_ones_do_not():
    torch.manual_seed(0)
    h = torch.randn(5, 4, requires_grad=True)
    table = torch.randn(201, 4, requires_grad=True)
    targets = torch.tensor([1, 2, 3, 4, 5])
    pushed = {}
    for shared in (True, False):
        torch.manual_seed(1)
        vec = lambda ids: table if ids is None else table[ids]  # noqa: E731
        (g,) = torch.autograd.grad(sampled_softmax(h, targets, vec, 200, 8, shared), table)
        pushed[shared] = int((g[6:].abs().sum(1) > 0).sum())  # negatives that got a gradient
    assert pushed[True] <= 8 < pushed[False]


def test_loss_kinds_dispatch():
    h, table, targets = setup(n=10)
    vec = lambda ids: table if ids is None else table[ids]  # noqa: E731
    for kind in ("ce", "bce", "sampled_softmax"):
        assert torch.isfinite(NextItemLoss(kind, 50, 2, 16)(h, targets, vec))
    assert NextItemLoss("sampled_softmax", 50, softmax_sampling="batch").shared_negatives
    assert not NextItemLoss("sampled_softmax", 50).shared_negatives


def test_logit_adjusted_ce_equals_cross_entropy_of_shifted_logits():
    h, table, targets = setup()
    counts = torch.randint(0, 40, (51,))
    counts[0] = 0
    prior = log_prior(counts.numpy())
    assert torch.allclose(prior.exp().sum(), torch.tensor(1.0)) and prior.shape == (50,)
    loss = NextItemLoss("ce", 50, logit_adjustment=0.7, log_prior=prior)
    ours = loss(h, targets, lambda ids: table if ids is None else table[ids])
    g_h, g_t = torch.autograd.grad(ours * 2.0, (h, table))
    ref = F.cross_entropy(h @ table[1:].T + 0.7 * prior, targets - 1)
    r_h, r_t = torch.autograd.grad(ref * 2.0, (h, table))
    assert torch.allclose(ours, ref, atol=1e-5)
    assert torch.allclose(g_h, r_h, atol=1e-6) and torch.allclose(g_t, r_t, atol=1e-6)
    with torch.no_grad():  # evaluation-style call (no gradient): the same shifted loss
        assert torch.allclose(loss(h.detach(), targets, lambda ids: table.detach()), ref, atol=1e-5)


def test_logit_adjustment_needs_the_full_softmax():
    import pytest
    from pydantic import ValidationError

    from h2rec.config import TrainConfig

    with pytest.raises(ValidationError, match="logit_adjustment .* works with loss ce only"):
        TrainConfig(loss="bce", logit_adjustment=1.0)
    with pytest.raises(ValueError, match="needs train.loss ce"):
        NextItemLoss("ce", 50, logit_adjustment=1.0)
