"""Register a logged model version and run the champion gate with MLflow aliases.

Every new version becomes `@challenger`; the gate (h2rec.lifecycle.gate) decides whether it
also becomes `@champion`. The decision and its reason are tagged on the version, together with
the data version and the metrics the gate compared, so the registry UI explains itself.
Registry stages (deprecated in MLflow) are not used.
"""

from __future__ import annotations

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from h2rec.lifecycle.gate import Candidate, Decision, decide

CHAMPION, CHALLENGER = "champion", "challenger"
TAG_DATA, TAG_OVERALL, TAG_TAIL = "data_version", "gate.overall_ndcg10", "gate.tail_ndcg10"


def current_champion(client: MlflowClient, name: str) -> Candidate | None:
    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    tags = mv.tags
    return Candidate(mv.version, tags.get(TAG_DATA, ""), float(tags[TAG_OVERALL]), float(tags[TAG_TAIL]))


def register_and_gate(
    model_uri: str,
    name: str,
    data_version: str,
    overall_ndcg10: float,
    tail_ndcg10: float,
    tail_margin: float,
    extra_tags: dict[str, str] | None = None,
) -> tuple[str, Decision]:
    """Register `model_uri` as a new version of `name`; return (version, gate decision)."""
    client = MlflowClient()
    champion = current_champion(client, name)
    tags = {TAG_DATA: data_version, TAG_OVERALL: f"{overall_ndcg10:.6f}", TAG_TAIL: f"{tail_ndcg10:.6f}"}
    mv = mlflow.register_model(model_uri, name, tags={**tags, **(extra_tags or {})})
    version = str(mv.version)
    client.set_registered_model_alias(name, CHALLENGER, version)
    decision = decide(Candidate(version, data_version, overall_ndcg10, tail_ndcg10), champion, tail_margin)
    client.set_model_version_tag(name, version, "gate.decision", "promoted" if decision.promote else "kept")
    client.set_model_version_tag(name, version, "gate.reason", decision.reason)
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION, version)
    return version, decision
