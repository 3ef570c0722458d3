"""`dvc repro` of the data stages on a slice of real data, in a scratch git repository."""

import pytest
import yaml

from tests.conftest import run

pytestmark = pytest.mark.integration


def test_repro_is_idempotent_and_params_drive_reruns(dvc_project):
    repo = dvc_project
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
