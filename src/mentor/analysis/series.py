"""Noise-aware helpers on a numeric series: smoothing, robust noise, trend tests, plateau onset.

Pure functions, shared by the learning-curve analyzer (:mod:`mentor.analysis.curve`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mentor.config import CurveConfig


def ema(values: list[float], span: int) -> list[float]:
    """Exponential moving average with weight 2/(span+1), debiased (no pull towards 0 at start)."""
    a = 2.0 / (max(1, span) + 1.0)
    out, acc, norm = [], 0.0, 0.0
    for v in values:
        acc = (1 - a) * acc + a * v
        norm = (1 - a) * norm + a
        out.append(acc / norm)
    return out


def noise_sd(values: list[float]) -> float:
    """Robust noise of a series: 1.4826 x MAD of its second differences, divided by sqrt 6.

    Second differences cancel a locally linear trend (a falling loss is not noise); the median
    absolute deviation ignores spikes; sqrt 6 because a second difference x[i-1] - 2 x[i] +
    x[i+1] of independent noise has variance 6 sigma^2.
    """
    if len(values) < 4:
        return 0.0
    d = [a - 2 * b + c for a, b, c in zip(values, values[1:], values[2:], strict=False)]
    med = _median(d)
    mad = _median([abs(x - med) for x in d])
    return 1.4826 * mad / math.sqrt(6)


def _median(xs: list[float]) -> float:
    n = len(xs)
    if n == 0:
        return 0.0
    xs = sorted(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


@dataclass
class Trend:
    slope: float  # per step
    p_value: float
    n: int
    change: float  # fitted change over the window (slope x step span)

    def falling(self, alpha: float) -> bool:
        return self.n >= 3 and self.slope < 0 and self.p_value < alpha

    def rising(self, alpha: float) -> bool:
        return self.n >= 3 and self.slope > 0 and self.p_value < alpha


def trend(steps: list[int], values: list[float]) -> Trend:
    """Least-squares slope and its two-sided t-test p-value (scipy ``linregress``)."""
    from scipy.stats import linregress

    n = len(values)
    if n < 3 or len(set(steps)) < 2:
        return Trend(0.0, 1.0, n, 0.0)
    if max(values) == min(values):
        return Trend(0.0, 1.0, n, 0.0)
    res = linregress(steps, values)
    p = float(res.pvalue) if math.isfinite(res.pvalue) else 0.0
    return Trend(float(res.slope), p, n, float(res.slope) * (steps[-1] - steps[0]))


def tail(steps: list[int], values: list[float], cfg: CurveConfig) -> tuple[list[int], list[float]]:
    k = max(cfg.tail_min_points, math.ceil(cfg.tail_share * len(values)))
    return steps[-k:], values[-k:]


def plateau_onset(steps: list[int], smooth: list[float], threshold: float) -> int | None:
    """Index of the first point after which the series never improves by more than ``threshold``."""
    best_after = math.inf
    onset = None
    for i in range(len(smooth) - 1, -1, -1):
        best_after = min(best_after, smooth[i])
        if smooth[i] - best_after <= threshold:
            onset = i
        else:
            break
    return onset


def span_of(n: int, cfg: CurveConfig) -> int:
    """The EMA span of a series of ``n`` points (``report.curve.smoothing`` x n, at least 2)."""
    return max(2, round(cfg.smoothing * n))


def smooth(values: list[float], cfg: CurveConfig) -> list[float]:
    """The smoothed curve shown next to the raw one (the analyzer's own smoothing)."""
    return ema(values, span_of(len(values), cfg))
