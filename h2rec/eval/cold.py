"""Test cases whose target item never occurs in training (cold targets).

Only a model that scores items through their content (Semantic IDs) can rank these; a
hash-ID table holds nothing learned for them. Reported apart from the popularity groups,
under the same metric names: `<protocol>/cold/<metric>` and the count `cold_cases`. With no
cold target there is nothing to report (no key, never NaN).
"""

from __future__ import annotations

from h2rec.data.sequences import SeqDataset
from h2rec.eval.evaluator import CaseResults
from h2rec.eval.metrics import rank_metrics

COLD_KS = (10, 20)


def cold_target_metrics(data: SeqDataset, cases: CaseResults, ks: tuple[int, ...] = COLD_KS) -> dict[str, float]:
    cold = data.train_count[cases.targets] == 0
    out: dict[str, float] = {"cold_cases": int(cold.sum())}
    if not cold.any():
        return out
    for protocol, ranks in cases.ranks.items():
        for name, value in rank_metrics(ranks[cold], list(ks)).items():
            out[f"{protocol}/cold/{name}"] = value
    return out
