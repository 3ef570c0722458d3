"""Graph engines of the embedding model against the torch reference, on real Beauty titles."""

from __future__ import annotations

import numpy as np
import pytest

from h2rec.errors import ConfigError
from h2rec.sid.backends import backend_key, check_backend
from h2rec.sid.embedder import PACKAGED_MODEL, SentenceEncoder, resolve_model

TEXTS = 24


@pytest.fixture(scope="module")
def titles(beauty_titles) -> list[str]:
    return beauty_titles[:TEXTS]


@pytest.fixture(scope="module")
def reference(minilm, titles) -> np.ndarray:
    return minilm.encode(titles)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.mark.parametrize("backend", ["openvino", "onnx"])
def test_float_engines_equal_torch(backend, titles, reference, exports):
    encoder = SentenceEncoder(
        resolve_model(PACKAGED_MODEL), batch_size=8, progress=False, backend=backend, export_dir=exports, threads=1
    )
    vectors = encoder.encode(titles)
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, reference, atol=1e-5)
    assert encoder.key == backend_key(encoder.key, "torch")  # same space, same cache


def test_int8_is_close_but_keyed_apart(titles, reference, exports, minilm):
    encoder = SentenceEncoder(
        resolve_model(PACKAGED_MODEL), batch_size=8, progress=False, backend="onnx-int8", export_dir=exports, threads=1
    )
    cosine = (encoder.encode(titles) * reference).sum(1)
    assert cosine.min() > 0.95 and cosine.mean() > 0.98
    assert cosine.min() < 1 - 1e-4  # really quantised, not the float graph
    assert encoder.key == f"{minilm.key}+onnx-int8"


def test_export_is_made_once(exports, titles):
    graphs = sorted(exports.rglob("*.onnx"))
    assert graphs, "the engine tests above export first"
    before = {p: p.stat().st_mtime_ns for p in graphs}
    SentenceEncoder(resolve_model(PACKAGED_MODEL), progress=False, backend="onnx-int8", export_dir=exports, threads=1)
    assert {p: p.stat().st_mtime_ns for p in graphs} == before


def test_unknown_backend_and_gpu_device_are_refused(exports):
    with pytest.raises(ConfigError, match="embed.backend: unknown backend 'tensorrt'"):
        check_backend("tensorrt")
    with pytest.raises(ConfigError, match="runs on the CPU; set embed.device: cpu"):
        SentenceEncoder(resolve_model(PACKAGED_MODEL), device="cuda", progress=False, backend="openvino", export_dir=exports)
