"""Two gloo processes launched by torchrun match one process given the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from h2rec.config import load_params
from h2rec.stages import ingest, split
from h2rec.train.distributed import shard

pytestmark = pytest.mark.integration
TOLERANCE = 0.01  # absolute, on validation NDCG@10 after 2 epochs


def test_shard_covers_a_batch_once_per_rank(monkeypatch):
    users = np.arange(7)
    assert shard(users).tolist() == users.tolist()  # one process: everything


def _train(cmd: list[str], cwd: Path) -> dict:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((cwd / "metrics" / "train.json").read_text())


def test_ddp_on_two_cpu_processes_matches_one_process(project):
    raw = yaml.safe_load(open("params.yaml"))
    raw["train"].update(
        model="sasrec",
        epochs=2,
        patience=5,
        batch_size=128,
        num_threads=1,
        progress=False,
        tracking={"enabled": False, "experiment": "h2rec-test"},
    )
    raw["train"]["backbone"].update(hidden=32, layers=1, ffn=64, max_len=20, dropout=0.0, attn_dropout=0.0)
    Path("params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    p = load_params()
    ingest.run(p.data, p.validate_)
    split.run(p.preprocess)
    one = _train([sys.executable, "-m", "h2rec.cli", "train", "--out", "models/one"], project)
    two = _train(
        ["torchrun", "--standalone", "--nproc_per_node", "2", "-m", "h2rec.cli", "train", "--out", "models/two"], project
    )
    print(f"valid NDCG@10 after 2 epochs: 1 process {one['best_valid_ndcg_10']:.5f}, 2 ranks {two['best_valid_ndcg_10']:.5f}")
    assert one["epochs"] == two["epochs"] == 2
    assert abs(one["best_valid_ndcg_10"] - two["best_valid_ndcg_10"]) < TOLERANCE
    assert (project / "models/two/best.pt").exists() and (project / "models/two/last.pt").exists()
