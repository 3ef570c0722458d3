"""bench/bench_gpu.py runs on the CPU (how it is checked before any device time is spent)."""

from __future__ import annotations

from argparse import Namespace

import numpy as np
import torch

from h2rec.data.sequences import SeqDataset
from h2rec.models.inputs import ModelInputs
from h2rec.sid.table import SidTable
from tests.scripts import load_bench_script
from tests.train.toy import frames, random_sequences


def load_script():
    return load_bench_script("bench_gpu")


def test_every_figure_is_measured_on_the_cpu():
    bench = load_script()
    data = SeqDataset.from_frames(*frames(random_sequences(60, 150, seed=1, min_len=4, max_len=10), 150))
    rng = np.random.default_rng(0)
    codes = np.concatenate([np.full((1, 2), -1), rng.integers(0, 4, (150, 2))])
    inputs = ModelInputs(data, SidTable(codes, [4, 4]))
    cpu = torch.device("cpu")
    peak = bench.matmul_rate(cpu, seconds=0.05)
    assert peak["dtype"] == "float32" and peak["tflops"] > 0
    args = Namespace(precision="auto", compile=False, epochs=1, full_train=False)
    for model in ("sasrec", "h2rec"):
        row = bench.bench_model(model, inputs, args, cpu, peak["tflops"])
        assert row["epoch_seconds"] > 0 and row["epoch_tflop"] > 0 and 0 < row["mfu"]
        assert row["eval_full_seconds"] > 0 and row["users"] == data.n_users
