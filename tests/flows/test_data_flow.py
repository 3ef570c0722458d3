import json

import pytest

from flows.data import data_flow
from h2rec import paths
from h2rec.errors import ValidationFailed

pytestmark = pytest.mark.integration


def test_data_flow_on_real_slice(prefect_server, project):
    stats = data_flow("params.yaml")
    assert stats["users"] > 500 and stats["seq_len_min"] >= 3
    assert json.loads(paths.DATA_STATS.read_text()) == stats
    assert json.loads((paths.VALIDATION_REPORTS / "split.json").read_text())["success"]


def test_data_flow_fails_on_bad_data_and_runs_nothing_downstream(prefect_server, project):
    inter_path = project / "datasets" / "slice" / "inter.json"
    inter = json.loads(inter_path.read_text())
    inter[next(iter(inter))].append(123456789)
    inter_path.write_text(json.dumps(inter))
    with pytest.raises(ValidationFailed, match="123456789"):
        data_flow("params.yaml")
    assert not paths.PREPARED_INTERACTIONS.exists()
    assert not paths.CANONICAL_INTERACTIONS.exists()


def test_dataset_override_is_written_into_params_yaml(prefect_server, project):
    import yaml

    from h2rec.config import load_params

    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["data"]["sources"]["slice_copy"] = raw["data"]["sources"]["scientific"]
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    before = (project / "params.yaml").read_text()
    with pytest.raises(Exception, match="movies"):
        data_flow("params.yaml", dataset="movies")  # unknown: refused, the file untouched
    assert (project / "params.yaml").read_text() == before
    data_flow("params.yaml", dataset="slice_copy")
    assert load_params("params.yaml").data.dataset == "slice_copy"  # dvc.lock and params.yaml agree
