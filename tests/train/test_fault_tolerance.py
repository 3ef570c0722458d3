"""A training killed with SIGKILL mid-run resumes from its last checkpoint and ends where an
uninterrupted run ends; truncated checkpoints and Parquet files are refused by name."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from h2rec.config import load_params
from h2rec.errors import DataError
from h2rec.io import atomic_path, clear_stale_temps, read_parquet
from h2rec.stages import ingest, split
from h2rec.train import checkpoint

pytestmark = pytest.mark.integration


def _env():
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}


def _setup(project: Path) -> None:
    raw = yaml.safe_load(open("params.yaml"))
    raw["train"].update(
        model="sasrec",
        epochs=4,
        patience=10,
        batch_size=64,
        num_threads=1,
        progress=False,
        tracking={"enabled": False, "experiment": "h2rec-test"},
    )
    raw["train"]["backbone"].update(hidden=32, layers=1, ffn=64, max_len=20)
    Path("params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    p = load_params()
    ingest.run(p.data, p.validate_)
    split.run(p.preprocess)


def _final(project: Path, out: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "h2rec.cli", "train", "--out", out, "--resume"],
        cwd=project,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((project / "metrics/train.json").read_text())


def test_sigkill_then_resume_reaches_the_uninterrupted_result(project):
    _setup(project)
    reference = _final(project, "models/reference")  # --resume with nothing to resume: from scratch

    proc = subprocess.Popen(
        [sys.executable, "-m", "h2rec.cli", "train", "--out", "models/killed"],
        cwd=project,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = project / "models/killed/last.pt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed; make it longer"
    os.kill(proc.pid, signal.SIGKILL)  # mid-run: after epoch 1 was checkpointed
    proc.wait()
    state = json.loads(torch.load(last, weights_only=True)["state"])
    assert 1 <= state["epoch"] < 4  # killed between epochs 1 and 4
    # A kill mid-write may leave a writer's temporary file (never a half-written checkpoint);
    # plant one as if it had, so the resumed run must clear it either way.
    (project / "models/killed/.best.pt.killed.tmp").write_bytes(b"half")

    resumed = _final(project, "models/killed")
    assert not list((project / "models/killed").glob(".*.tmp")), "a killed writer's temporary file was left behind"
    assert resumed["epochs"] == reference["epochs"] == 4
    assert resumed["best_valid_ndcg_10"] == pytest.approx(reference["best_valid_ndcg_10"], abs=1e-6)


def test_truncated_checkpoint_and_parquet_are_refused(tmp_path):
    ckpt = tmp_path / "best.pt"
    torch.save({"model": {"w": torch.ones(1000)}}, ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[:500])
    with pytest.raises(DataError, match=r"best\.pt: not a readable h2rec checkpoint"):
        checkpoint.load(ckpt)
    table = tmp_path / "t.parquet"
    import pandas as pd

    pd.DataFrame({"a": range(1000)}).to_parquet(table)
    table.write_bytes(table.read_bytes()[:300])
    with pytest.raises(DataError, match=r"t\.parquet: not a readable Parquet file"):
        read_parquet(table)


def test_a_failed_atomic_write_keeps_the_old_file_and_stale_temps_are_cleared(tmp_path):
    target = tmp_path / "best.pt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old" and not list(tmp_path.glob(".*.tmp"))
    stale = tmp_path / ".last.pt.x1y2.tmp"  # what a SIGKILL mid-write leaves
    stale.write_text("half")
    assert clear_stale_temps(tmp_path) == [stale]
    assert not stale.exists() and target.read_text() == "old"
