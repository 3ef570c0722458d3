"""The champion gate: may a newly registered version replace the current `@champion`?

A challenger is promoted when there is no champion yet, when the champion was evaluated on
another data version (it no longer describes the data the pipeline serves), or when, on the
same data version, it beats the champion on overall NDCG@10 without losing more than
`tail_margin` (relative) on tail NDCG@10. Everything else stays `@challenger`.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    if champion is None:
        return Decision(True, "first registered model: no champion yet")
    if champion.data_version != challenger.data_version:
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
