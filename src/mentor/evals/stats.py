"""Statistics of evaluations: Wilson intervals and paired significance tests.

Binary per-item metrics (solved, exact, ...) are compared with the exact McNemar test (a two-sided
binomial test on the discordant pairs); continuous ones (word_acc, loss) with the paired t-test and
the Wilcoxon signed-rank test. Pairs are matched by item id; :func:`compare` runs one test per
metric the two sides share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mentor.store.evals import ItemRow


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


def compare(
    cand: Mapping[str, ItemRow],
    ref: Mapping[str, ItemRow],
    binary: set[str],
    *,
    ids: set[str] | None = None,
) -> dict[str, PairedTest]:
    """Paired tests of every metric both sides scored, over the item ids they share (within
    ``ids`` when given: one tier). ``binary`` names the 0/1 metrics (McNemar); bookkeeping
    scores (``_``-prefixed) are never compared."""
    shared = set(cand) & set(ref) if ids is None else ids & set(cand) & set(ref)

    def metrics(side: Mapping[str, ItemRow]) -> set[str]:
        return {k for i in shared for k in side[i].scores if not k.startswith("_")}

    out = {}
    for m in sorted(metrics(cand) & metrics(ref)):
        a = {i: float(cand[i].scores[m]) for i in shared if m in cand[i].scores}
        b = {i: float(ref[i].scores[m]) for i in shared if m in ref[i].scores}
        out[m] = paired_test(m, a, b, binary=m in binary)
    return out
