"""The regression gate: promote a candidate unless it is significantly worse than serving.

The candidate and the serving version are compared item by item on ``eval.gate_metric`` (exact
McNemar for 0/1 metrics, Wilcoxon for continuous ones). A drop significant at ``eval.gate_alpha``
refuses promotion; anything else promotes. With no serving version the candidate promotes.

The reason says which of four outcomes it was (``GateDecision.change``): ``worse`` (refused),
``better`` (significant gain), ``none`` ("no measurable change": not significant and the 95%
intervals of the two means overlap, e.g. 0.000 vs 0.000 on a small quick eval) and
``not_significant`` (not significant, intervals apart). "No measurable change" still promotes:
the candidate holds the newly trained data and the evaluation cannot tell it from serving, so
refusing would leave every short file unserved; the reason and the ``gate.promoted`` event say
so instead of "not worse" (issue 13 item 7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from mentor.evals.results import LOWER_IS_BETTER
from mentor.evals.stats import paired_test, wilson


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
    change: str = ""  # worse | better | none | not_significant ("" when nothing was compared)
    intervals: dict[str, list[float]] | None = None  # 95% intervals: candidate, serving

    def to_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "reason": self.reason,
            "p_value": self.p_value,
            "delta": self.delta,
            "metric": self.metric,
            "n": self.n,
            "change": self.change,
            "intervals": self.intervals,
        }


def _binary(values: dict[str, float]) -> bool:
    return all(v in (0.0, 1.0) for v in values.values())


def mean_interval(values: list[float], binary: bool) -> tuple[float, float]:
    """95% interval of a mean: Wilson for 0/1 scores, Student t for continuous ones."""
    n = len(values)
    if binary:
        return wilson(sum(values), n)
    mean = sum(values) / n
    if n < 2:
        return (mean, mean)
    from scipy.stats import sem, t

    half = float(t.ppf(0.975, n - 1) * sem(values))
    return (mean - half, mean + half) if math.isfinite(half) else (mean, mean)


def _paired_values(
    cand: dict[str, float], serv: dict[str, float]
) -> tuple[list[float], list[float]]:
    ids = sorted(set(cand) & set(serv))
    keep = [i for i in ids if not (math.isnan(cand[i]) or math.isnan(serv[i]))]
    return [cand[i] for i in keep], [serv[i] for i in keep]


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
    lower = metric in LOWER_IS_BETTER
    worse = test.delta > 0 if lower else test.delta < 0
    better = test.delta < 0 if lower else test.delta > 0
    p, d = test.p_value, test.delta
    significant = not math.isnan(p) and p < cfg.gate_alpha
    binary = _binary(cand) and _binary(serv)
    a, b = _paired_values(cand, serv)
    ci_c, ci_s = mean_interval(a, binary), mean_interval(b, binary)
    overlap = ci_c[0] <= ci_s[1] and ci_s[0] <= ci_c[1]
    summary = (
        f"{metric} {test.candidate:.3f} [{ci_c[0]:.3f}, {ci_c[1]:.3f}] vs serving "
        f"{test.reference:.3f} [{ci_s[0]:.3f}, {ci_s[1]:.3f}] ({d:+.3f}, p={p:.3g}, {test.test}, "
        f"n={test.n})"
    )
    extra = {"intervals": {"candidate": list(ci_c), "serving": list(ci_s)}}
    if worse and significant:
        reason = f"significantly worse: {summary}"
        return GateDecision(False, reason, p, d, metric, test.n, "worse", **extra)
    if better and significant:
        reason = f"significantly better: {summary}"
        return GateDecision(True, reason, p, d, metric, test.n, "better", **extra)
    if overlap:
        reason = (
            f"no measurable change: {summary}; promoted (it holds the newly trained data and "
            "the evaluation cannot tell it from serving)"
        )
        return GateDecision(True, reason, p, d, metric, test.n, "none", **extra)
    verdict = "not significantly worse" if worse else "not significantly better"
    reason = f"{verdict}: {summary}"
    return GateDecision(True, reason, p, d, metric, test.n, "not_significant", **extra)
