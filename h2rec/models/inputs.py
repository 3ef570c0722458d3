"""What a model is built from: the dataset and, when its configuration asks, more.

`Needs` says which optional inputs a configuration asks for; the training layer reads exactly
those from the folders it is given (`h2rec.train.inputs`) and hands them over as
`ModelInputs`. Nothing under `h2rec/models` reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from h2rec.data.sequences import SeqDataset
from h2rec.sid.table import SidTable


@dataclass(frozen=True)
class Needs:
    sid: bool = False  # the Semantic ID table (data/sid)
    codebooks: bool = False  # ... with the quantizer's codebooks (train.sid.init: codebooks)
    text: bool = False  # item text embeddings (data/features; train.hid.init: pca)
    cooccurrence: bool = False  # PPMI neighbours (data/cooccurrence; train.h2rec.code_cooccurrence > 0)


@dataclass(frozen=True)
class ModelInputs:
    data: SeqDataset
    sid: SidTable | None = None
    text_embeddings: np.ndarray | None = None  # (I, dim), row i-1 = item i
    cooccurrence: tuple[np.ndarray, np.ndarray] | None = None  # (neighbours, ppmi), each (I+1, k)
