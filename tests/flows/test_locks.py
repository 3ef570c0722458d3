"""Two pipelines at once in one project: the second is refused with a clear message, whichever
of `dvc repro` and the pipeline flow it is, and nothing of the first is touched."""

import os
import subprocess
import sys

import pytest
from prefect.settings import PREFECT_API_URL

from flows import dvc_stages

pytestmark = pytest.mark.integration


def _run(cmd, cwd, env=None):
    path = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {}), "PATH": path}, capture_output=True, text=True)


def test_a_second_pipeline_is_refused_while_one_holds_the_project(prefect_server, dvc_project, monkeypatch):
    monkeypatch.chdir(dvc_project)
    params_before = (dvc_project / "params.yaml").read_text()
    with dvc_stages.hold(dvc_project):
        # the holder itself still talks to DVC (through the one Repo that holds the lock)
        assert dvc_stages.is_current("ingest") is False
        repro = _run(["dvc", "repro"], dvc_project)
        assert repro.returncode != 0 and "Unable to acquire lock" in repro.stderr + repro.stdout
        flow = _run(
            [sys.executable, "-m", "flows.pipeline", "--model", "pop"],
            dvc_project,
            {"PREFECT_API_URL": str(PREFECT_API_URL.value())},
        )
        assert flow.returncode != 0
        assert "another pipeline is running in" in flow.stderr + flow.stdout
        assert "nothing was run" in flow.stderr + flow.stdout
    # the refused flow wrote nothing, not even its --model override
    assert (dvc_project / "params.yaml").read_text() == params_before
    assert not (dvc_project / "data" / "canonical").exists()
    assert _run(["dvc", "status"], dvc_project).returncode == 0  # released
