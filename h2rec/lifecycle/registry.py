"""Register a logged model version and run the champion gate with MLflow aliases.

Every new version becomes `@challenger`; the gate (h2rec.lifecycle.gate) decides whether it
also becomes `@champion`. The decision and its reason are tagged on the version, together with
the data version and the metrics the gate compared, so the registry UI explains itself.
Registry stages (deprecated in MLflow) are not used.

Reading the champion, deciding and moving the alias happen under one exclusive file lock
beside the tracking store (`registry_lock_path`), so two registrations that run at once
(two pipelines, a pipeline and a manual `h2rec register`) are decided one after the other:
the second compares itself with whatever the first left as `@champion`.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from h2rec.errors import DataError
from h2rec.io import file_lock
from h2rec.lifecycle.gate import Candidate, Decision, decide

CHAMPION, CHALLENGER = "champion", "challenger"
TAG_DATA, TAG_OVERALL, TAG_TAIL = "data_version", "gate.overall_ndcg10", "gate.tail_ndcg10"
# A registration holds the lock for a few seconds; far longer means a stuck process.
LOCK_TIMEOUT_S = 120.0


def registry_lock_path(uri: str) -> Path:
    """The lock file beside a local store (`<db>.registry.lock`, or `registry.lock` in a file
    store); for a remote server, one per URI in the temp folder, which serialises the
    registrations of this machine only."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return db.with_name(db.name + ".registry.lock")
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path or uri) / "registry.lock"
    digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"h2rec-registry-{digest}.lock"


# What the store answers when there is no such model, or no version under the alias. Any
# other error (a locked database, a server that times out) must not read as "no champion":
# the gate would then promote whatever comes.
NO_CHAMPION_CODES = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def current_champion(client: MlflowClient, name: str) -> Candidate | None:
    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as e:
        if e.error_code in NO_CHAMPION_CODES:
            return None
        raise
    tags = mv.tags
    missing = [t for t in (TAG_OVERALL, TAG_TAIL) if t not in tags]
    if missing:
        raise DataError(
            f"model {name!r} v{mv.version} (@{CHAMPION}) has no tag(s) {', '.join(missing)}: the gate cannot compare "
            f"with it; tag it (client.set_model_version_tag) or move the alias to a version `h2rec register` made"
        )
    return Candidate(mv.version, tags.get(TAG_DATA, ""), float(tags[TAG_OVERALL]), float(tags[TAG_TAIL]))


def register_and_gate(
    model_uri: str,
    name: str,
    data_version: str,
    overall_ndcg10: float,
    tail_ndcg10: float,
    tail_margin: float,
    extra_tags: dict[str, str] | None = None,
    lock_timeout: float = LOCK_TIMEOUT_S,
) -> tuple[str, Decision]:
    """Register `model_uri` as a new version of `name`; return (version, gate decision)."""
    client = MlflowClient()
    tags = {TAG_DATA: data_version, TAG_OVERALL: repr(float(overall_ndcg10)), TAG_TAIL: repr(float(tail_ndcg10))}
    lock = registry_lock_path(mlflow.get_tracking_uri())
    with file_lock(lock, lock_timeout, f"the registry lock of model {name!r}"):
        champion = current_champion(client, name)
        mv = mlflow.register_model(model_uri, name, tags={**tags, **(extra_tags or {})})
        version = str(mv.version)
        client.set_registered_model_alias(name, CHALLENGER, version)
        decision = decide(Candidate(version, data_version, overall_ndcg10, tail_ndcg10), champion, tail_margin)
        client.set_model_version_tag(name, version, "gate.decision", "promoted" if decision.promote else "kept")
        client.set_model_version_tag(name, version, "gate.reason", decision.reason)
        if decision.promote:
            client.set_registered_model_alias(name, CHAMPION, version)
    return version, decision


def pinned_version(model_uri: str) -> tuple[str, str | None]:
    """`models:/name@alias` -> (`models:/name/<version>`, version), resolved once, so a
    champion promoted meanwhile cannot change the model halfway through a job; other URIs
    are returned as they are (version None unless the URI names one)."""
    if not model_uri.startswith("models:/"):
        return model_uri, None
    name, _, ref = model_uri.removeprefix("models:/").partition("@")
    if ref:
        try:
            version = str(MlflowClient().get_model_version_by_alias(name, ref).version)
        except MlflowException as e:
            raise DataError(f"{model_uri}: no such model alias in {mlflow.get_tracking_uri()} ({e.message})") from None
        return f"models:/{name}/{version}", version
    tail = name.rpartition("/")[2]
    return model_uri, tail if tail.isdigit() else None
