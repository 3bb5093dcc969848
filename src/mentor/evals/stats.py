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


# -- comparison of two models: paired bootstrap, minimum detectable effect -----------------------
#
# ``mentor compare`` reports, besides each metric's p-value, an interval for the mean difference
# and the smallest difference the item count could have detected, so "no significant difference"
# says how large a difference may still hide behind it.

ALPHA = 0.05
POWER = 0.8


def paired_bootstrap(
    a: list[float],
    b: list[float],
    *,
    n_boot: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(a - b)`` resampling whole pairs (seeded).

    Resampling pairs, not each side alone, keeps the correlation between the two models' scores
    on the same item, which is what makes a paired comparison narrower than an unpaired one.
    """
    import numpy as np

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot, dtype=np.float64)
    chunk = max(1, 2_000_000 // d.size)  # bounded memory for long item lists
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, d.size, size=(stop - start, d.size))
        means[start:stop] = d[idx].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return (float(lo), float(hi))


def mcnemar_power(n: int, discordant: float, delta: float, alpha: float = ALPHA) -> float:
    """Exact power of :func:`mcnemar_exact` for ``n`` pairs.

    ``discordant`` is the probability that the two models disagree on an item (psi) and
    ``delta`` the difference of their success rates (p_a - p_b = p10 - p01). The number of
    discordant pairs K is Binomial(n, psi); given K = k, the pairs won by ``a`` are
    Binomial(k, (psi + delta) / (2 psi)) and the two-sided exact test at p = 0.5 rejects in both
    tails up to the largest c with 2 P(X <= c) <= alpha. Power = sum_k P(K = k) P(reject | k).
    """
    import numpy as np
    from scipy.stats import binom

    if n <= 0 or discordant <= 0:
        return 0.0
    psi = min(1.0, discordant)
    p1 = min(1.0, max(0.0, (psi + abs(delta)) / (2 * psi)))
    k = np.arange(n + 1)
    c = binom.ppf(alpha / 2, k, 0.5)
    c = np.where(binom.cdf(c, k, 0.5) > alpha / 2, c - 1, c)  # largest c with cdf <= alpha/2
    reject = np.where(
        c >= 0, binom.cdf(c, k, p1) + binom.sf(k - c - 1, k, p1), 0.0
    )  # X <= c or X >= k - c
    return float(np.sum(binom.pmf(k, n, psi) * np.clip(reject, 0.0, 1.0)))


def mde_mcnemar(
    n: int, discordant: float, *, alpha: float = ALPHA, power: float = POWER
) -> float | None:
    """Smallest difference of success rates the exact McNemar test detects with ``power``.

    Solved for delta with :func:`mcnemar_power`, the discordant rate held at the observed one
    but never below delta itself (a difference of delta needs at least delta of the items to
    disagree). None when even delta = 1 is not detectable (too few items).
    """
    from scipy.optimize import brentq

    if n <= 0:
        return None

    def gap(delta: float) -> float:
        return mcnemar_power(n, max(discordant, delta), delta, alpha) - power

    if gap(1.0) < 0:
        return None
    lo = 1e-9
    if gap(lo) >= 0:
        return lo
    return float(brentq(gap, lo, 1.0, xtol=1e-6))


def t_power(n: int, effect: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test for a standardised effect ``mean(d) / sd(d)``."""
    from scipy.stats import nct
    from scipy.stats import t as t_dist

    if n < 2:
        return 0.0
    df = n - 1
    crit = t_dist.ppf(1 - alpha / 2, df)
    nc = effect * math.sqrt(n)
    upper, lower = float(nct.sf(crit, df, nc)), float(nct.cdf(-crit, df, nc))
    # far in a tail scipy's noncentral t can answer NaN for a probability that is ~0
    return (0.0 if math.isnan(upper) else upper) + (0.0 if math.isnan(lower) else lower)


def mde_paired(
    n: int, sd_diff: float, *, alpha: float = ALPHA, power: float = POWER
) -> float | None:
    """Smallest mean paired difference the paired t-test detects with ``power`` (noncentral t).

    Continuous metrics are tested with Wilcoxon's signed-rank test, whose efficiency relative to
    the t-test is about 0.95 on normal data; this figure is the t-test's, a close lower bound.
    None when it cannot be sized: fewer than 2 items, or differences without spread.
    """
    from scipy.optimize import brentq

    if n < 2 or not math.isfinite(sd_diff):
        return None
    if sd_diff == 0:
        return None  # no spread in the differences: nothing to size an effect against
    hi = 0.5
    while t_power(n, hi, alpha) < power:  # bracket the root: power rises with the effect
        hi *= 2
        if hi > 1e4:
            return None
    effect = brentq(lambda e: t_power(n, e, alpha) - power, 1e-9, hi, xtol=1e-9)
    return float(effect * sd_diff)


@dataclass
class Difference:
    """One metric of a two-model comparison: means, difference, p-value, interval, MDE."""

    metric: str
    n: int
    a: float
    b: float
    delta: float  # b - a
    p_value: float
    test: str
    ci: tuple[float, float]
    mde: float | None
    significant: bool
    b_higher: int = 0  # items where b scored higher than a
    b_lower: int = 0  # items where b scored lower than a

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ci"] = list(self.ci)
        return d


def difference(
    metric: str,
    a: dict[str, float],
    b: dict[str, float],
    *,
    binary: bool,
    alpha: float = ALPHA,
    power: float = POWER,
    n_boot: int = 10_000,
    seed: int = 0,
) -> Difference:
    """Compare model ``b`` against model ``a`` on per-item values matched by item id."""
    t = paired_test(metric, b, a, binary=binary)
    ids = sorted(i for i in set(a) & set(b) if not (math.isnan(a[i]) or math.isnan(b[i])))
    xa = [a[i] for i in ids]
    xb = [b[i] for i in ids]
    n = len(ids)
    if n == 0:
        return Difference(
            metric, 0, math.nan, math.nan, math.nan, 1.0, "none", (math.nan, math.nan), None, False
        )
    ci = paired_bootstrap(xb, xa, n_boot=n_boot, seed=seed)
    if binary:
        discordant = (t.wins + t.losses) / n
        mde = mde_mcnemar(n, discordant, alpha=alpha, power=power)
    else:
        import numpy as np

        diffs = np.asarray(xb) - np.asarray(xa)
        mde = mde_paired(
            n, float(np.std(diffs, ddof=1)) if n > 1 else math.nan, alpha=alpha, power=power
        )
    return Difference(
        metric,
        n,
        t.reference,
        t.candidate,
        t.delta,
        t.p_value,
        t.test,
        ci,
        mde,
        t.p_value < alpha,
        t.wins,
        t.losses,
    )


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
