"""The regression gate: promote a candidate unless it is significantly worse than serving.

The candidate and the serving version are compared item by item on ``eval.gate_metric`` (exact
McNemar for 0/1 metrics, Wilcoxon for continuous ones). A drop significant at ``eval.gate_alpha``
refuses promotion; anything else promotes. With no serving version the candidate promotes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from mentor.evals.results import LOWER_IS_BETTER
from mentor.evals.stats import paired_test


class Scored(Protocol):
    def item_scores(self, metric: str) -> dict[str, float]: ...


@dataclass
class ScoreSet:
    """Per-item scores keyed ``benchmark/item_id`` (e.g. a stored evaluation of serving)."""

    scores: dict[str, dict[str, float]]

    def item_scores(self, metric: str) -> dict[str, float]:
        return {k: float(v[metric]) for k, v in self.scores.items() if metric in v}


@dataclass
class GateDecision:
    promote: bool
    reason: str
    p_value: float | None = None
    delta: float | None = None
    metric: str = ""
    n: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "reason": self.reason,
            "p_value": self.p_value,
            "delta": self.delta,
            "metric": self.metric,
            "n": self.n,
        }


def _binary(values: dict[str, float]) -> bool:
    return all(v in (0.0, 1.0) for v in values.values())


def gate(candidate_eval: Scored, serving_eval: Scored | None, cfg: Any) -> GateDecision:
    """``cfg`` is ``Config.eval`` (gate_metric, gate_alpha, gate_enabled)."""
    metric = cfg.gate_metric
    if not cfg.gate_enabled:
        return GateDecision(True, "gate disabled (eval.gate_enabled=false)", metric=metric)
    if serving_eval is None:
        return GateDecision(True, "no serving version: the first version promotes", metric=metric)
    cand = candidate_eval.item_scores(metric)
    serv = serving_eval.item_scores(metric)
    if not cand:
        return GateDecision(
            False, f"the candidate has no {metric!r} scores to compare", metric=metric
        )
    test = paired_test(metric, cand, serv, binary=_binary(cand) and _binary(serv))
    if test.n == 0:
        return GateDecision(
            True, f"no items shared with the serving evaluation on {metric!r}", metric=metric
        )
    worse = test.delta > 0 if metric in LOWER_IS_BETTER else test.delta < 0
    p = test.p_value
    d = test.delta
    summary = f"{metric} {test.candidate:.3f} vs serving {test.reference:.3f} ({d:+.3f}, p={p:.3g}, {test.test}, n={test.n})"
    if worse and not math.isnan(p) and p < cfg.gate_alpha:
        return GateDecision(False, f"significantly worse: {summary}", p, d, metric, test.n)
    verdict = "not significantly worse" if worse else "not worse"
    return GateDecision(True, f"{verdict}: {summary}", p, d, metric, test.n)
