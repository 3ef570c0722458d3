"""Reading the current champion: "no champion" only when the registry says so."""

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from h2rec.errors import DataError
from h2rec.lifecycle.registry import current_champion


class LockedStore:
    """A registry whose database is busy, as SQLite answers under another writer."""

    def get_model_version_by_alias(self, name, alias):
        raise MlflowException("(sqlite3.OperationalError) database is locked", error_code="TEMPORARILY_UNAVAILABLE")


def test_only_a_missing_model_or_alias_means_no_champion(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient()
    assert current_champion(client, "h2rec") is None  # no such model
    client.create_registered_model("h2rec")
    assert current_champion(client, "h2rec") is None  # no @champion yet
    version = client.create_model_version("h2rec", source=(tmp_path / "model").as_uri())
    client.set_registered_model_alias("h2rec", "champion", version.version)
    with pytest.raises(DataError, match=r"'h2rec' v1 \(@champion\) has no tag\(s\) gate.overall_ndcg10, gate.tail_ndcg10"):
        current_champion(client, "h2rec")
    # a busy database is an error, never "no champion" (which would promote anything)
    with pytest.raises(MlflowException, match="database is locked"):
        current_champion(LockedStore(), "h2rec")
