"""Fixtures for the Semantic ID tests: the real MiniLM and a slice of real item embeddings."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from tests.conftest import BEAUTY

N_REAL_ITEMS = 600


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)


@pytest.fixture(scope="session")
def beauty_titles() -> list[str]:
    table = pd.read_csv(BEAUTY / "item_titles.tsv", sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False)
    return table["title"].head(N_REAL_ITEMS).tolist()


@pytest.fixture(scope="session")
def minilm():
    from h2rec.sid.embedder import PACKAGED_MODEL, SentenceEncoder, resolve_model

    return SentenceEncoder(resolve_model(PACKAGED_MODEL), batch_size=64, progress=False)


@pytest.fixture(scope="session")
def real_embeddings(minilm, beauty_titles) -> np.ndarray:
    """MiniLM embeddings of the first Beauty titles (cleaned as the embed stage does)."""
    from h2rec.sid.embedder import embed_texts
    from h2rec.sid.text import clean_text

    vectors, _ = embed_texts([clean_text(t) for t in beauty_titles], minilm)
    return vectors
