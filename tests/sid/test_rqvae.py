import numpy as np
import pytest
import torch

from h2rec.sid.report import level_stats, tuple_stats
from h2rec.sid.rqvae import RQVAE, Net
from tests.sid.test_rqkmeans import clustered

SMALL = dict(hidden=[128], latent_dim=16, batch_size=128, lr=3e-3)


@pytest.fixture(scope="module")
def trained(real_embeddings):
    return RQVAE(3, 16, seed=0, epochs=40, patience=40, **SMALL).fit(real_embeddings)


def test_reconstruction_improves_during_training(trained, real_embeddings):
    recon = [h["recon"] for h in trained.history]
    assert len(recon) == 40
    assert recon[-1] < 0.7 * recon[0]
    x = real_embeddings
    err = np.linalg.norm(x - trained.decode(trained.encode(x)), axis=1).mean()
    assert err < np.linalg.norm(x - x.mean(0), axis=1).mean()  # beats the mean embedding


def test_no_collapse_on_real_embeddings(trained, real_embeddings):
    codes = trained.encode(real_embeddings)
    stats = level_stats(codes, 16)
    for level in range(3):
        assert stats[f"level_{level}_utilisation"] >= 0.75, stats
        assert stats[f"level_{level}_entropy_norm"] > 0.7, stats
    assert tuple_stats(codes)["distinct_tuple_share"] > 0.7


def test_codes_and_codebooks_shapes(trained, real_embeddings):
    codes = trained.encode(real_embeddings[:10])
    assert codes.shape == (10, 3) and codes.dtype == np.int32 and 0 <= codes.min() and codes.max() < 16
    assert [c.shape for c in trained.codebooks] == [(16, 384)] * 3
    assert all(c.dtype == np.float32 for c in trained.codebooks)


def test_deterministic_under_a_seed():
    x = clustered(n=200)
    a = RQVAE(2, 8, seed=3, epochs=4, **SMALL).fit(x)
    b = RQVAE(2, 8, seed=3, epochs=4, **SMALL).fit(x)
    np.testing.assert_array_equal(a.encode(x), b.encode(x))
    assert a.history == b.history


def test_encoding_one_item_or_all_gives_the_same_codes(trained, real_embeddings):
    x = real_embeddings[:50]
    whole = trained.encode(x)
    np.testing.assert_array_equal(whole, np.concatenate([trained.encode(row[None]) for row in x]))


def test_dead_codes_are_moved_onto_residuals():
    q = RQVAE(2, 4, seed=0, hidden=[8], latent_dim=3)
    net = Net(6, [8], 3, 2, 4)
    usage = torch.tensor([[5, 0, 3, 0], [1, 1, 1, 1]])
    residuals = [torch.randn(7, 3), torch.randn(7, 3)]
    before = net.codebooks.detach().clone()
    restarted = q._restart_dead_codes(net, usage, residuals, torch.Generator().manual_seed(0))
    assert restarted == 2
    after = net.codebooks.detach()
    torch.testing.assert_close(after[0, [0, 2]], before[0, [0, 2]])
    torch.testing.assert_close(after[1], before[1])
    for code in (1, 3):  # each dead code now sits exactly on one of its level's residuals
        assert (residuals[0] == after[0, code]).all(1).any()


def test_straight_through_gradient_reaches_the_encoder():
    net = Net(6, [8], 3, 2, 4)
    with torch.no_grad():
        net.codebooks.normal_()
    x = torch.randn(5, 6)
    _, _, _, recon, codebook_loss, commit_loss = net(x)
    recon.backward()
    assert net.encoder[0].weight.grad is not None and net.encoder[0].weight.grad.abs().sum() > 0
    assert net.codebooks.grad is None or net.codebooks.grad.abs().sum() == 0  # via codebook loss only
    net.zero_grad()
    _, _, _, _, codebook_loss, commit_loss = net(x)
    (codebook_loss + 0.25 * commit_loss).backward()
    assert net.codebooks.grad.abs().sum() > 0
