"""The comparison's statistics against scipy, closed forms, published values and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from mentor.evals.stats import (
    difference,
    mcnemar_exact,
    mcnemar_power,
    mde_mcnemar,
    mde_paired,
    paired_bootstrap,
    t_power,
)


def test_paired_bootstrap_matches_scipy_percentile_bootstrap():
    rng = np.random.default_rng(3)
    a = rng.normal(0.6, 0.2, 80)
    b = a - 0.05 + rng.normal(0, 0.1, 80)  # paired: b tracks a item by item
    lo, hi = paired_bootstrap(list(b), list(a), n_boot=20_000, seed=1)
    ref = sps.bootstrap(
        (b, a),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        paired=True,
        method="percentile",
        n_resamples=20_000,
        random_state=2,
    ).confidence_interval
    # two seeded Monte Carlo estimates of the same interval agree within their error
    assert lo == pytest.approx(ref.low, abs=0.004)
    assert hi == pytest.approx(ref.high, abs=0.004)
    # pairing matters: far narrower than the unpaired normal interval of the means
    unpaired = 1.96 * math.sqrt(a.var(ddof=1) / 80 + b.var(ddof=1) / 80)
    assert hi - lo < unpaired


def test_paired_bootstrap_known_cases():
    assert paired_bootstrap([3.0] * 10, [1.0] * 10) == (2.0, 2.0)  # constant differences
    x = [0.1, 0.7, 0.4, 0.9, 0.3]
    y = [0.2, 0.5, 0.4, 0.6, 0.1]
    assert paired_bootstrap(x, y, seed=5) == paired_bootstrap(x, y, seed=5)  # seeded
    d = np.subtract(x, y)
    lo, hi = paired_bootstrap(x, y)
    assert d.min() <= lo <= d.mean() <= hi <= d.max()
    assert all(math.isnan(v) for v in paired_bootstrap([], []))


def test_mcnemar_power_matches_simulation_of_the_exact_test():
    n, psi, delta = 60, 0.3, 0.2
    rng = np.random.default_rng(0)
    p10, p01 = (psi + delta) / 2, (psi - delta) / 2
    sims, rejected = 1500, 0
    for _ in range(sims):
        u = rng.random(n)
        a = (u < p10).astype(float)
        b = ((u >= p10) & (u < p10 + p01)).astype(float)
        rejected += mcnemar_exact(list(a), list(b))[0] <= 0.05
    power = mcnemar_power(n, psi, delta)
    se = math.sqrt(power * (1 - power) / sims)
    assert rejected / sims == pytest.approx(power, abs=4 * se)


def test_mde_mcnemar_agrees_with_connor_for_large_n():
    """Connor (1987): n = (z_a sqrt(psi) + z_b sqrt(psi - d^2))^2 / d^2; the exact figure is a
    little larger (the exact test is conservative) and converges to it as n grows."""
    za, zb = sps.norm.ppf(0.975), sps.norm.ppf(0.8)
    for n, psi in ((500, 0.2), (2000, 0.1)):
        exact = mde_mcnemar(n, psi)
        assert exact is not None
        n_connor = (za * math.sqrt(psi) + zb * math.sqrt(psi - exact**2)) ** 2 / exact**2
        # at the exact MDE, Connor's approximation needs a few percent fewer than n items
        assert 0.93 * n < n_connor <= n
        assert mcnemar_power(n, psi, exact) == pytest.approx(0.8, abs=1e-4)


def test_mde_mcnemar_edges():
    assert mde_mcnemar(5, 0.5) is None  # 5 pairs can never reach p < 0.05 (2/32 = 0.0625)
    small = mde_mcnemar(100, 0.0)  # no observed disagreement: psi is taken as at least delta
    assert small is not None and 0 < small < 0.15
    assert mde_mcnemar(100, 0.4) > mde_mcnemar(100, 0.1)  # more disagreement, more noise


def test_mde_paired_published_value_and_simulation():
    # G*Power, paired t-test, two-tailed alpha 0.05, power 0.8, n = 100: dz = 0.2829
    assert mde_paired(100, 1.0) == pytest.approx(0.2829, abs=5e-4)
    assert mde_paired(100, 2.0) == pytest.approx(2 * 0.2829, abs=1e-3)  # scales with sd
    mde = mde_paired(20, 1.5)
    rng = np.random.default_rng(7)
    sims = 2000
    hits = sum(
        sps.ttest_rel(rng.normal(mde, 1.5, 20), np.zeros(20)).pvalue < 0.05 for _ in range(sims)
    )
    assert hits / sims == pytest.approx(0.8, abs=0.04)
    assert t_power(20, mde / 1.5) == pytest.approx(0.8, abs=1e-6)
    assert mde_paired(1, 1.0) is None and mde_paired(10, 0.0) is None


def test_difference_no_significant_difference_states_what_could_hide():
    # 100 items, 6 won by b, 4 won by a: p = 0.75, not significant
    a = {f"i{k}": 1.0 if k < 40 else 0.0 for k in range(100)}
    b = dict(a)
    for k in range(6):
        b[f"i{50 + k}"] = 1.0
    for k in range(4):
        b[f"i{k}"] = 0.0
    d = difference("solved", a, b, binary=True)
    assert (d.b_higher, d.b_lower) == (6, 4)
    assert d.delta == pytest.approx(0.02)
    assert d.p_value == pytest.approx(sps.binomtest(6, 10, 0.5).pvalue)
    assert not d.significant
    assert d.ci[0] < 0 < d.ci[1]
    assert d.mde == pytest.approx(mde_mcnemar(100, 0.10))
    assert d.mde > abs(d.delta)


def test_difference_detects_a_real_gain():
    a = {f"i{k}": 0.0 for k in range(60)}
    b = {f"i{k}": 1.0 if k < 20 else 0.0 for k in range(60)}
    d = difference("solved", a, b, binary=True)
    assert d.significant and d.delta == pytest.approx(1 / 3) and d.ci[0] > 0
    cont_a = {f"i{k}": 2.0 + 0.1 * (k % 5) for k in range(30)}
    cont_b = {k: v - 0.3 for k, v in cont_a.items()}
    cont_b["i0"] += 0.05  # not all equal
    c = difference("loss", cont_a, cont_b, binary=False)
    assert c.test == "wilcoxon" and c.significant and c.delta < 0
