import json

import numpy as np
import pandas as pd
import pytest

from h2rec.config import EmbedConfig
from h2rec.errors import DataError, ValidationFailed
from h2rec.sid.features import load_embeddings
from h2rec.stages import embed
from tests.sid.fakes import CountingEncoder


def write_items(path, titles, **extra):
    n = len(titles)
    items = pd.DataFrame(
        {"item": np.arange(1, n + 1, dtype=np.int32), "item_id": [f"i{k}" for k in range(n)], "title": titles, **extra}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    items.to_parquet(path, index=False)
    return items


def run(tmp_path, encoder, cfg=EmbedConfig()):
    return embed.run(
        cfg,
        items_path=tmp_path / "prepared" / "items.parquet",
        out_dir=tmp_path / "features",
        cache_dir=tmp_path / "cache",
        report_path=tmp_path / "reports" / "embeddings.json",
        encoder=encoder,
    )


def test_embeds_every_item_in_order_and_reuses_the_cache(tmp_path):
    titles = [f"topic{k % 5} product {k} &amp; more" for k in range(40)]
    items = write_items(tmp_path / "prepared" / "items.parquet", titles, brand=["Acme"] * 40)
    enc = CountingEncoder()
    summary = run(tmp_path, enc)
    assert summary["n_encoded"] == 40 and summary["n_items"] == 40
    emb = load_embeddings(tmp_path / "features" / "item_embeddings.npz", items)
    assert emb.vectors.shape == (40, enc.dim) and emb.model_key == enc.key
    np.testing.assert_allclose(emb.vectors[3], enc.vector("topic3 product 3 & more. brand: Acme"), rtol=1e-6)
    meta = json.loads((tmp_path / "features" / "embed_meta.json").read_text())
    assert meta["embed"]["fields"] == ["title", "brand", "categories", "description"] and meta["dim"] == enc.dim

    # 10 items added: only those are encoded.
    write_items(tmp_path / "prepared" / "items.parquet", titles + [f"new {k}" for k in range(10)], brand=["Acme"] * 50)
    assert run(tmp_path, enc)["n_encoded"] == 10 and enc.encoded == 50


def test_bad_embeddings_are_refused_and_nothing_is_overwritten(tmp_path):
    write_items(tmp_path / "prepared" / "items.parquet", ["a", "b", "c"])
    run(tmp_path, CountingEncoder())
    out = tmp_path / "features" / "item_embeddings.npz"
    before = out.read_bytes()

    class NaNEncoder(CountingEncoder):
        key = "nan-encoder"

        def encode(self, texts):
            v = super().encode(texts)
            v[0] = np.nan
            return v

    with pytest.raises(ValidationFailed, match="finite"):
        run(tmp_path, NaNEncoder(key="nan-encoder"))
    assert out.read_bytes() == before


def test_items_must_be_numbered_in_order(tmp_path):
    items = write_items(tmp_path / "prepared" / "items.parquet", ["a", "b"])
    items.assign(item=[2, 1]).to_parquet(tmp_path / "prepared" / "items.parquet")
    with pytest.raises(DataError, match="'item' must be 1..2 in order"):
        run(tmp_path, CountingEncoder())


def test_every_text_column_of_the_dataset_is_embedded(tmp_path, caplog):
    """A source's declared text column that embed.fields does not list (`genre`) is embedded
    after the listed ones and named in the log; ids and the split's popularity labels are not."""
    import logging

    items = write_items(
        tmp_path / "prepared" / "items.parquet",
        ["Kolya", "Heat"],
        genre=["Comedy", "Crime"],
        brand=["A", "B"],
        train_count=[3, 1],
        popularity=["head", "tail"],
        bucket=np.array([1, 0], dtype=np.int8),
    )
    enc = CountingEncoder()
    with caplog.at_level(logging.INFO, logger="h2rec.stages.embed"):
        run(tmp_path, enc)
    assert "['genre'] are not in embed.fields" in caplog.text
    emb = load_embeddings(tmp_path / "features" / "item_embeddings.npz", items)
    np.testing.assert_allclose(emb.vectors[0], enc.vector("Kolya. brand: A. genre: Comedy"), rtol=1e-6)
    meta = json.loads((tmp_path / "features" / "embed_meta.json").read_text())
    assert meta["text_columns"] == ["title", "brand", "genre"]
    assert embed.text_columns(items, EmbedConfig(fields=["genre"])) == ["genre", "title", "brand"]
