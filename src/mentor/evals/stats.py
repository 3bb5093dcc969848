"""Statistics of evaluations: Wilson intervals and paired significance tests.

Binary per-item metrics (solved, exact, ...) are compared with the exact McNemar test (a two-sided
binomial test on the discordant pairs); continuous ones (word_acc, loss) with the paired t-test and
the Wilcoxon signed-rank test. Pairs are matched by item id.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


def wilson(successes: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% by default). ``successes`` may be fractional."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class PairedTest:
    metric: str
    n: int  # paired items
    candidate: float  # mean of the candidate on the paired items
    reference: float  # mean of the reference on the paired items
    delta: float  # candidate - reference
    p_value: float
    test: str  # "mcnemar" | "wilcoxon" | "t" | "none"
    wins: int = 0  # items better in the candidate
    losses: int = 0  # items worse in the candidate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_exact(a: list[float], b: list[float]) -> tuple[float, int, int]:
    """Exact McNemar p-value of paired 0/1 outcomes: (p, a-only successes, b-only successes)."""
    from scipy.stats import binomtest

    a_only = sum(1 for x, y in zip(a, b, strict=True) if x >= 0.5 > y)
    b_only = sum(1 for x, y in zip(a, b, strict=True) if y >= 0.5 > x)
    n = a_only + b_only
    if n == 0:
        return 1.0, 0, 0
    return float(binomtest(a_only, n, 0.5, alternative="two-sided").pvalue), a_only, b_only


def paired_t(a: list[float], b: list[float]) -> float:
    from scipy.stats import ttest_rel

    diffs = [x - y for x, y in zip(a, b, strict=True)]
    if len(diffs) < 2 or all(d == diffs[0] for d in diffs):
        return 1.0 if all(d == 0 for d in diffs) else 0.0
    return float(ttest_rel(a, b).pvalue)


def wilcoxon(a: list[float], b: list[float]) -> float:
    from scipy.stats import wilcoxon as _wilcoxon

    diffs = [x - y for x, y in zip(a, b, strict=True)]
    if not any(diffs):
        return 1.0
    return float(_wilcoxon(a, b, zero_method="wilcox").pvalue)


def paired_test(
    metric: str,
    candidate: dict[str, float],
    reference: dict[str, float],
    *,
    binary: bool,
    continuous_test: str = "wilcoxon",
) -> PairedTest:
    """Compare per-item values matched by item id (items in only one side are ignored)."""
    ids = sorted(set(candidate) & set(reference))
    a = [candidate[i] for i in ids if not (math.isnan(candidate[i]) or math.isnan(reference[i]))]
    b = [reference[i] for i in ids if not (math.isnan(candidate[i]) or math.isnan(reference[i]))]
    n = len(a)
    if n == 0:
        return PairedTest(metric, 0, math.nan, math.nan, math.nan, 1.0, "none")
    ma, mb = sum(a) / n, sum(b) / n
    wins = sum(1 for x, y in zip(a, b, strict=True) if x > y)
    losses = sum(1 for x, y in zip(a, b, strict=True) if x < y)
    if binary:
        p, _, _ = mcnemar_exact(a, b)
        test = "mcnemar"
    elif continuous_test == "t":
        p, test = paired_t(a, b), "t"
    else:
        p, test = wilcoxon(a, b), "wilcoxon"
    return PairedTest(metric, n, ma, mb, ma - mb, p, test, wins, losses)
