import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from h2rec.models.dropout import LEVELS, Dropout, attention, dropout, keep_mask

torch.set_num_threads(1)


def keep_probability(p: float) -> float:
    return 1 - round(p * LEVELS) / LEVELS


@settings(max_examples=20, deadline=None)
@given(p=st.floats(0.05, 0.95), seed=st.integers(0, 2**16))
def test_dropout_keeps_each_element_with_probability_1_minus_p_and_rescales(p, seed):
    torch.manual_seed(seed)
    x = torch.ones(200_000)
    y = dropout(x, p)
    kept = y != 0
    keep = keep_probability(p)
    assert abs(keep - (1 - p)) <= 2**-17  # p is rounded to the draws' resolution, no further
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / keep))  # so the expectation is x
    assert abs(kept.float().mean().item() - (1 - p)) < 0.01  # ~6 std at n = 2e5


def test_the_four_draws_read_from_one_64_bit_number_are_each_uniform_and_unrelated():
    torch.manual_seed(5)
    n, p = 400_000, 0.3
    kept = keep_mask(torch.empty(n), p).view(n // 4, 4) != 0  # column j: lane j of every 64-bit draw
    shares = kept.float().mean(0)
    assert torch.all((shares - 0.7).abs() < 0.01)  # ~7 std at n / 4 = 1e5
    for i in range(4):  # every pair of lanes: kept together as often as independence says
        for j in range(i + 1, 4):
            assert abs((kept[:, i] & kept[:, j]).float().mean().item() - 0.49) < 0.01
    mask = keep_mask(torch.empty(n), p)
    assert abs(mask.mean().item() - 1.0) < 0.01  # unbiased


def test_dropout_gradient_is_the_mask_times_the_scale():
    torch.manual_seed(3)
    x = torch.randn(64, 32, requires_grad=True)
    y = dropout(x, 0.3)
    y.sum().backward()
    expected = (y.detach() != 0).float() / keep_probability(0.3)
    assert torch.equal(x.grad, expected)


def test_dropout_module_is_the_identity_in_eval_and_at_p_zero():
    x = torch.randn(8, 5)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.5)


def qkv_and_mask(B=3, H=2, T=6, dh=4):
    torch.manual_seed(0)
    q, k, v = (torch.randn(B, H, T, dh) for _ in range(3))
    allowed = (torch.rand(B, 1, T, T) > 0.3) | torch.eye(T, dtype=torch.bool)
    return q, k, v, allowed


def test_attention_without_dropout_is_torchs_kernel():
    q, k, v, allowed = qkv_and_mask()
    assert torch.equal(attention(q, k, v, allowed, 0.0), F.scaled_dot_product_attention(q, k, v, attn_mask=allowed))


def test_attention_with_dropout_equals_a_plain_per_head_reference():
    q, k, v, allowed = qkv_and_mask()
    B, H, T, dh = q.shape
    p = 0.4
    torch.manual_seed(11)
    fast = attention(q, k, v, allowed, p)
    torch.manual_seed(11)
    keep = keep_mask(torch.empty(B, H, T, T), p)  # the same draw as the fast path's mask: 0 or the scale
    ref = torch.zeros_like(fast)
    for b in range(B):
        for h in range(H):
            for t in range(T):
                cols = [s for s in range(T) if allowed[b, 0, t, s]]
                s = torch.stack([q[b, h, t] @ k[b, h, c] / math.sqrt(dh) for c in cols])
                w = torch.softmax(s, 0)
                ref[b, h, t] = sum(w[i] * keep[b, h, t, c] * v[b, h, c] for i, c in enumerate(cols))
    assert torch.allclose(fast, ref, atol=1e-5)
