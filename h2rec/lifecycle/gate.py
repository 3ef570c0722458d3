"""The champion gate: may a newly registered version replace the current `@champion`?

A challenger with a non-finite metric (a model that scores NaN) is never promoted. Otherwise
it is promoted when there is no champion yet, when the champion was evaluated on another known
data version (it no longer describes the data the pipeline serves), or when it beats the
champion on overall NDCG@10 without losing more than `tail_margin` (relative) on tail NDCG@10.
An unknown data version (UNVERSIONED: no dvc.lock record) never wins by being different: the
metrics decide. Everything else stays `@challenger`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

UNVERSIONED = "unversioned"  # the data version of a registration DVC has no record of


@dataclass(frozen=True)
class Candidate:
    version: str
    data_version: str
    overall: float
    tail: float


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(challenger: Candidate, champion: Candidate | None, tail_margin: float) -> Decision:
    if not (math.isfinite(challenger.overall) and math.isfinite(challenger.tail)):
        return Decision(False, f"non-finite metrics (overall {challenger.overall}, tail {challenger.tail}): kept")
    if champion is None:
        return Decision(True, "first registered model: no champion yet")
    known = all(v not in ("", UNVERSIONED) for v in (champion.data_version, challenger.data_version))
    if known and champion.data_version != challenger.data_version:
        return Decision(
            True,
            f"champion v{champion.version} was evaluated on data {champion.data_version}, "
            f"this version on {challenger.data_version}: the newer data wins",
        )
    floor = champion.tail * (1.0 - tail_margin)
    vs = f"overall NDCG@10 {challenger.overall:.5f} vs champion v{champion.version} {champion.overall:.5f}"
    if challenger.overall <= champion.overall:
        return Decision(False, f"not better overall: {vs}")
    if challenger.tail < floor:
        return Decision(
            False,
            f"better overall ({vs}) but tail NDCG@10 {challenger.tail:.5f} is below "
            f"{floor:.5f} (champion {champion.tail:.5f} minus {tail_margin:.0%})",
        )
    return Decision(True, f"better overall ({vs}); tail NDCG@10 {challenger.tail:.5f} >= {floor:.5f}")
