import numpy as np
import pandas as pd
import pytest

from h2rec.errors import DataError
from h2rec.sid.features import load_embeddings, save_embeddings


def test_round_trip_and_catalogue_check(tmp_path):
    path = tmp_path / "e.npz"
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    save_embeddings(path, ["a", "b", "c"], x, "model-1")
    items = pd.DataFrame({"item": [1, 2, 3], "item_id": ["a", "b", "c"]})
    emb = load_embeddings(path, items)
    np.testing.assert_array_equal(emb.vectors, x)
    assert emb.item_ids.tolist() == ["a", "b", "c"] and emb.model_key == "model-1" and emb.dim == 4
    with pytest.raises(DataError, match="different item table"):
        load_embeddings(path, items.assign(item_id=["a", "c", "b"]))
    with pytest.raises(DataError, match="different item table"):
        load_embeddings(path, items.iloc[:2])


def test_missing_or_corrupt_file(tmp_path):
    with pytest.raises(DataError, match="run `h2rec embed` first"):
        load_embeddings(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="not a readable embeddings file"):
        load_embeddings(tmp_path / "bad.npz")
