import pytest
import yaml

from h2rec.config import load_params
from tests.conftest import PLAIN_START, project_params, write_scientific_slice

FAST_TRAIN = {
    "model": "sasrec",
    "epochs": 2,
    "patience": 2,
    "batch_size": 256,
    "num_threads": 1,
    "progress": False,
    "backbone": {"hidden": 32, "layers": 1, "ffn": 64, "max_len": 20},
    "tracking": {"enabled": True, "experiment": "h2rec-test"},
    **PLAIN_START,  # no embed stage runs here
}


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory):
    """A slice of real data taken through ingest, split, a 2-epoch SASRec, evaluation, all
    tracked in a SQLite MLflow store inside the temporary project."""
    import os

    from h2rec.stages import evaluate, ingest, split, train

    root = tmp_path_factory.mktemp("lifecycle")
    write_scientific_slice(root / "datasets" / "slice", n_users=600)
    params = project_params(root / "datasets" / "slice")
    params["train"] = FAST_TRAIN
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    old_cwd, old_uri = os.getcwd(), os.environ.get("MLFLOW_TRACKING_URI")
    os.chdir(root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    (root / "mlruns").mkdir()
    try:
        p = load_params()
        ingest.run(p.data, p.validate_)
        split.run(p.preprocess)
        train.run(p.train, dataset=p.data.dataset)
        evaluate.run(p.evaluate)
        yield root
    finally:
        os.chdir(old_cwd)
        if old_uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old_uri
