"""`dvc repro` of the data stages on a slice of real data, in a scratch git repository."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import project_params, write_scientific_slice

pytestmark = pytest.mark.integration


def run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def repo(tmp_path, copy_repo_files):
    copy_repo_files(tmp_path, "h2rec", "dvc.yaml", ".dvcignore")
    write_scientific_slice(tmp_path / "datasets" / "slice")
    params = project_params(Path("datasets/slice"))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], tmp_path)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    run(["dvc", "config", "core.analytics", "false"], tmp_path)
    return tmp_path


def test_repro_is_idempotent_and_params_drive_reruns(repo):
    out = run(["dvc", "repro", "split"], repo)
    assert "Running stage 'ingest'" in out and "Running stage 'split'" in out
    assert (repo / "data/prepared/interactions.parquet").exists()
    again = run(["dvc", "repro", "split"], repo)
    assert "Running stage" not in again
    metrics = run(["dvc", "metrics", "show", "--json"], repo)
    assert '"users"' in metrics
    # `dvc exp run -S` on a preprocess key re-runs split but not ingest
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "baseline"], repo)
    out = run(["dvc", "exp", "run", "-S", "preprocess.head_share=0.3", "split"], repo)
    assert "Running stage 'split'" in out and "Running stage 'ingest'" not in out
    assert yaml.safe_load((repo / "params.yaml").read_text())["preprocess"]["head_share"] == 0.3
    assert "head_share" in run(["dvc", "exp", "show", "--md"], repo)
