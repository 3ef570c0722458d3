import json

import numpy as np
import pandas as pd
import pytest
import torch

from h2rec.config import BackboneConfig, SidConfig
from h2rec.data.sequences import Batch
from h2rec.errors import DataError
from h2rec.models.items import pca_project
from h2rec.models.losses import NextItemLoss
from h2rec.models.sid_sasrec import SIDSASRec
from h2rec.sid.table import SidTable

torch.set_num_threads(1)
CFG = BackboneConfig(max_len=8, hidden=16, layers=1, heads=2, ffn=32, dropout=0.0, attn_dropout=0.0)
CARDS = [3, 4, 5]
# item 0 = padding; items 4 and 5 share their whole tuple; item 6 is never in any sequence
CODES = np.array([[-1, -1, -1], [0, 0, 0], [0, 1, 2], [1, 1, 1], [2, 3, 4], [2, 3, 4], [1, 0, 3]])


def model(fusion: str = "mean", codebooks=None) -> SIDSASRec:
    torch.manual_seed(0)
    return SIDSASRec(6, CODES, CARDS, CFG, SidConfig(pooling=fusion), NextItemLoss("ce", 6), codebooks=codebooks).eval()


@pytest.mark.parametrize("fusion", ["mean", "sum", "concat"])
def test_item_vector_is_a_fusion_of_its_code_vectors(fusion):
    m = model(fusion)
    with torch.no_grad():
        v = m.item_vectors(torch.tensor([2]))[0]
        levels = [m.items.levels[l].weight[CODES[2, l] + 1] for l in range(3)]
        if fusion == "mean":
            assert torch.allclose(v, torch.stack(levels).mean(0))
        elif fusion == "sum":
            assert torch.allclose(v, torch.stack(levels).sum(0))
        else:
            assert torch.allclose(v, m.items.fuse(torch.cat(levels)))
        assert torch.equal(m.item_vectors(torch.tensor([4])), m.item_vectors(torch.tensor([5])))  # a collision
        assert m.item_vectors(torch.tensor([0])).abs().sum() == 0  # padding stays zero


def test_items_never_seen_in_training_still_get_scores_from_their_codes():
    m = model()
    batch = Batch(torch.tensor([[1, 2, 3]]), torch.tensor([0]), torch.tensor([3]), "right")
    with torch.no_grad():
        scores = m.full_sort_predict(batch)[0]
    assert torch.isfinite(scores[1:]).all() and scores[6] != 0


def test_loss_trains_the_code_tables():
    m = model().train()
    batch = Batch(
        torch.tensor([[1, 2, 3, 0]]), torch.tensor([0]), torch.tensor([3]), "right", targets=torch.tensor([[2, 3, 4, 0]])
    )
    loss, terms = m.calculate_loss(batch)
    loss.backward()
    assert all(e.weight.grad.abs().sum() > 0 for e in m.items.levels)


def test_pca_projection_keeps_the_geometry_of_the_codebooks():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(6, 30))
    books = [rng.normal(size=(k, 6)) @ basis for k in (5, 7)]  # rank 6 in 30 dimensions
    z = np.concatenate(pca_project(books, 8))
    x = np.concatenate(books)
    dz = np.linalg.norm(z[:, None] - z[None], axis=-1)
    dx = np.linalg.norm(x[:, None] - x[None], axis=-1)
    ratio = dz[dx > 0] / dx[dx > 0]
    assert np.allclose(ratio, ratio[0], rtol=1e-4)  # distances kept up to one global scale
    assert [len(p) for p in pca_project(books, 8)] == [5, 7]


def test_whitened_pca_keeps_the_axes_at_one_spread():
    rng = np.random.default_rng(0)
    text = rng.normal(size=(200, 30)) * np.geomspace(10.0, 0.1, 30)  # a few directions dominate
    plain, white = pca_project([text], 8)[0], pca_project([text], 8, whiten=True)[0]
    assert plain.std(0)[0] > 2 * plain.std(0)[-1]
    assert np.allclose(white.std(0), white.std(0)[0], rtol=1e-4)  # every axis at the same spread
    assert np.isclose(white.std(), plain.std(), rtol=1e-4)  # the same overall initial scale
    for axis in range(8):  # the same axes, each only rescaled
        assert np.corrcoef(plain[:, axis], white[:, axis])[0, 1] > 0.9999
    padded = pca_project([text[:, :5]], 8, whiten=True)[0]  # fewer components than dimensions
    assert np.isfinite(padded).all() and (padded[:, 5:] == 0).all()


def test_codebook_initialisation_sets_the_code_vectors():
    rng = np.random.default_rng(0)
    books = [rng.normal(size=(k, 20)).astype(np.float32) for k in CARDS]
    m = model(codebooks=books)
    expected = pca_project(books, CFG.hidden)
    for l in range(3):
        assert np.allclose(m.items.levels[l].weight[1:].detach().numpy(), expected[l], atol=1e-6)
        assert m.items.levels[l].weight[0].abs().sum() == 0


def sids_frame(codes: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame({"item": np.arange(1, len(codes) + 1), "item_id": [f"i{i}" for i in range(len(codes))]})
    for l in range(codes.shape[1]):
        df[f"code_{l}"] = codes[:, l]
    return df


def test_sid_table_reads_the_tokenize_stage_files(tmp_path):
    sids_frame(CODES[1:]).to_parquet(tmp_path / "sids.parquet")
    (tmp_path / "sid_meta.json").write_text(
        json.dumps({"levels": 3, "cardinalities": CARDS, "method": "rqkmeans", "dedup": False})
    )
    table = SidTable.load(tmp_path, n_items=6)
    assert np.array_equal(table.codes, CODES) and table.cardinalities == CARDS and table.codebooks is None
    assert table.signature() == SidTable.load(tmp_path, n_items=6).signature()


def test_sid_table_refuses_missing_items_and_out_of_range_codes():
    with pytest.raises(DataError, match="no Semantic ID for 1 item"):
        SidTable.from_frame(sids_frame(CODES[1:6]), CARDS, n_items=6)
    bad = CODES[1:].copy()
    bad[0, 1] = 4
    with pytest.raises(DataError, match="code_1"):
        SidTable.from_frame(sids_frame(bad), CARDS, n_items=6)


def test_added_items_score_like_their_code_twins_and_bad_codes_are_refused():
    m = model()
    ids = m.add_items(np.array([[2, 3, 4]]))  # the tuple of items 4 and 5
    assert ids.tolist() == [7] and m.n_items == 7
    batch = Batch(torch.tensor([[1, 2, 3]]), torch.tensor([0]), torch.tensor([3]), "right")
    with torch.no_grad():
        scores = m.full_sort_predict(batch)[0]
    assert scores.shape == (8,) and scores[7] == scores[4]
    with pytest.raises(DataError, match="code_2 outside"):
        m.add_items(np.array([[0, 0, 5]]))
