"""Saving and loading a fitted quantizer: round trip, and refusal of anything damaged."""

import json

import numpy as np
import pytest

from h2rec.errors import DataError
from h2rec.sid.loading import load_quantizer
from h2rec.sid.quantizer import MANIFEST, WEIGHTS
from h2rec.sid.rqkmeans import RQKMeans
from h2rec.sid.rqvae import RQVAE
from h2rec.sid.sids import dedup_level
from h2rec.sid.table import load_codebooks
from tests.sid.test_rqkmeans import clustered

KEY = "fake-model-0123456789ab"


@pytest.fixture
def saved(tmp_path):
    x = clustered(n=200)
    q = RQKMeans(3, 8, seed=0, normalize_residuals=True).fit(x)
    _, counts = dedup_level(q.encode(x))
    q.save(tmp_path / "q", model_key=KEY, dedup_counts=counts)
    return tmp_path / "q", q, x, counts


def test_round_trip_keeps_codes_codebooks_and_dedup_table(saved):
    path, q, x, counts = saved
    loaded = load_quantizer(path, dim=16, levels=3, codebook_size=8, model_key=KEY)
    assert isinstance(loaded, RQKMeans) and loaded.normalize_residuals
    np.testing.assert_array_equal(loaded.encode(x), q.encode(x))
    for a, b in zip(loaded.codebooks, q.codebooks):
        np.testing.assert_array_equal(a, b)
    assert loaded.model_key == KEY and loaded.dedup_counts == counts
    assert load_codebooks(path)[0].shape == (8, 16)  # the entry point models use
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["method"] == "rqkmeans" and manifest["dedup"] == {"tuples": len(counts)}


def test_rqvae_round_trip(tmp_path):
    x = clustered(n=200)
    q = RQVAE(2, 8, seed=0, hidden=[32], latent_dim=8, epochs=3, batch_size=64).fit(x)
    q.save(tmp_path / "v", model_key=KEY)
    loaded = load_quantizer(tmp_path / "v")
    assert isinstance(loaded, RQVAE) and loaded.dedup_counts is None
    np.testing.assert_array_equal(loaded.encode(x), q.encode(x))
    np.testing.assert_allclose(loaded.decode(q.encode(x)), q.decode(q.encode(x)), atol=1e-6)
    with pytest.raises(DataError, match="holds a 'rqvae' quantizer, not 'rqkmeans'"):
        RQKMeans.load(tmp_path / "v")


@pytest.mark.parametrize(
    "expect, message",
    [
        ({"dim": 384}, "fitted with dim=16, but 384"),
        ({"levels": 4}, "fitted with levels=3, but 4"),
        ({"codebook_size": 256}, "codebook_size=8, but 256"),
        ({"model_key": "other-model"}, "model_key='fake-model-0123456789ab', but 'other-model'"),
    ],
)
def test_mismatched_quantizer_is_refused(saved, expect, message):
    with pytest.raises(DataError, match=message):
        load_quantizer(saved[0], **expect)


def _truncate(path):
    data = (path / WEIGHTS).read_bytes()
    (path / WEIGHTS).write_bytes(data[: len(data) // 2])


def _flip_a_byte(path):
    data = bytearray((path / WEIGHTS).read_bytes())
    data[-10] ^= 0xFF
    (path / WEIGHTS).write_bytes(bytes(data))


def _edit_manifest(**changes):
    def edit(path):
        manifest = json.loads((path / MANIFEST).read_text())
        manifest.update(changes)
        (path / MANIFEST).write_text(json.dumps(manifest))

    return edit


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / MANIFEST).unlink(), "no saved quantizer here"),
        (lambda p: (p / MANIFEST).write_text('{"format_version": 1, "meth'), "not valid JSON"),
        (lambda p: (p / WEIGHTS).unlink(), "missing, truncated or modified"),
        (_truncate, "missing, truncated or modified"),
        (_flip_a_byte, "missing, truncated or modified"),
        (_edit_manifest(format_version=99), "format_version 99"),
        (_edit_manifest(method="pq"), "unknown method 'pq'"),
        (_edit_manifest(levels=2), "do not match|codebook shapes"),
        (_edit_manifest(dim=8), "do not match"),
        (_edit_manifest(dedup={"tuples": 3}), "dedup table missing or not the size"),
        (_edit_manifest(dedup=[[0, 1, 2, 1]]), "'dedup' must be null"),
    ],
)
def test_damaged_quantizer_is_refused(saved, damage, message):
    damage(saved[0])
    with pytest.raises(DataError, match=message):
        load_quantizer(saved[0])
