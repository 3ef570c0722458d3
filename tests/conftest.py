"""Shared fixtures: a small slice of the real default dataset laid out as a project."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import h2rec  # noqa: F401  (applies the offline/telemetry environment)

ROOT = Path(__file__).resolve().parents[1]
SCIENTIFIC = ROOT / "datasets" / "amazon-scientific"
BEAUTY = ROOT / "datasets" / "amazon-beauty"
SLICE_USERS = 1500


def write_scientific_slice(dest: Path, n_users: int = SLICE_USERS) -> tuple[Path, Path]:
    """The first `n_users` users of the real Scientific data, with the items they touch."""
    inter = json.loads((SCIENTIFIC / "Scientific.inter.json").read_text())
    users = dict(list(inter.items())[:n_users])
    items_used = {str(i) for seq in users.values() for i in seq}
    meta = json.load(gzip.open(SCIENTIFIC / "Scientific.item.json.gz", "rt"))
    dest.mkdir(parents=True, exist_ok=True)
    inter_path, items_path = dest / "inter.json", dest / "items.json.gz"
    inter_path.write_text(json.dumps(users))
    with gzip.open(items_path, "wt") as fh:
        json.dump({k: v for k, v in meta.items() if k in items_used}, fh)
    return inter_path, items_path


# The item tables' default start reads the text embeddings (hid.init: pca) and the quantizer's
# codebooks (sid.init: codebooks); tests whose data has neither start the tables at random.
PLAIN_START = {"hid": {"init": "random"}, "sid": {"init": "random"}}


def project_params(dataset_dir: Path, embedded: bool = False) -> dict:
    """params.yaml of the repo, pointed at the slice and relaxed for its size; `embedded`: the
    project runs the embed and tokenize stages, so the tables may start from the text."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["dataset"] = "scientific"
    params["data"]["sources"]["scientific"].update(
        interactions=str(dataset_dir / "inter.json"), items=str(dataset_dir / "items.json.gz")
    )
    params["preprocess"]["k_core"] = 3
    params["embed"]["threads"] = 1
    if "train" in params:  # a short, small training: the pipeline's plumbing is under test
        params["train"].update(epochs=2, patience=2, num_threads=1, progress=False)
        params["train"]["backbone"].update(hidden=32, layers=1, ffn=64, max_len=20)
        params["train"]["tracking"]["experiment"] = "h2rec-test"
        if not embedded:
            params["train"].update(PLAIN_START)
    if "evaluate" in params:
        params["evaluate"]["num_threads"] = 1
    return params


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A working directory holding a params.yaml that points at a slice of real data."""
    write_scientific_slice(tmp_path / "datasets" / "slice")
    params = project_params(tmp_path / "datasets" / "slice")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def copy_repo_files():
    def copy(dest: Path, *names: str) -> None:
        for name in names:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, dest / name)

    return copy


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> str:
    """Run a command with this interpreter's scripts (h2rec, dvc, prefect) first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {}), "PATH": path}, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def dvc_project(tmp_path, copy_repo_files, monkeypatch) -> Path:
    """A scratch git + DVC repository with the project's code, dvc.yaml and a real-data slice."""
    copy_repo_files(tmp_path, "h2rec", "flows", "dvc.yaml", ".dvcignore", "prefect.yaml")
    write_scientific_slice(tmp_path / "datasets" / "slice", n_users=800)
    params = project_params(Path("datasets/slice"), embedded=True)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    run(["git", "init", "-q"], tmp_path)
    run([*git, "commit", "-q", "--allow-empty", "-m", "init"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    run(["dvc", "config", "core.analytics", "false"], tmp_path)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "mlruns").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    return tmp_path
