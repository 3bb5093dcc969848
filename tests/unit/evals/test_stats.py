"""Statistics against values computed independently (scipy, closed forms)."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from mentor.evals.stats import compare, mcnemar_exact, paired_t, paired_test, wilcoxon, wilson
from mentor.store.evals import ItemRow


def test_wilson_known_values():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4901625, abs=1e-6)
    assert hi == pytest.approx(0.9433178, abs=1e-6)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775328, abs=1e-6)
    # matches scipy's binomtest Wilson interval
    ci = sps.binomtest(37, 100).proportion_ci(method="wilson")
    assert wilson(37, 100) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert wilson(0, 0) == (0.0, 1.0)


def test_mcnemar_exact_known_value():
    # 1 vs 9 discordant pairs: p = 2 * (C(10,0) + C(10,1)) / 2**10
    a = [1] * 1 + [0] * 9 + [1] * 5 + [0] * 5
    b = [0] * 1 + [1] * 9 + [1] * 5 + [0] * 5
    p, a_only, b_only = mcnemar_exact(a, b)
    assert (a_only, b_only) == (1, 9)
    assert p == pytest.approx(22 / 1024)
    assert p == pytest.approx(sps.binomtest(1, 10, 0.5).pvalue)
    assert mcnemar_exact([1, 0], [1, 0])[0] == 1.0


def test_continuous_tests_match_scipy():
    a = [0.2, 0.5, 0.9, 0.4, 0.7, 0.3, 0.8, 0.6]
    b = [0.1, 0.5, 0.6, 0.2, 0.9, 0.1, 0.4, 0.5]
    assert paired_t(a, b) == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert wilcoxon(a, b) == pytest.approx(sps.wilcoxon(a, b).pvalue)
    assert paired_t(a, a) == 1.0 and wilcoxon(a, a) == 1.0


def test_paired_test_pairs_by_item_id():
    cand = {"x": 1.0, "y": 1.0, "z": 0.0, "only_cand": 1.0}
    ref = {"z": 0.0, "y": 0.0, "x": 0.0, "only_ref": 1.0}
    t = paired_test("solved", cand, ref, binary=True)
    assert t.n == 3 and t.test == "mcnemar"
    assert t.delta == pytest.approx(2 / 3)
    assert (t.wins, t.losses) == (2, 0)
    assert t.p_value == pytest.approx(0.5)
    empty = paired_test("solved", {"a": 1.0}, {"b": 1.0}, binary=True)
    assert empty.n == 0 and math.isnan(empty.delta)


def test_compare_every_shared_metric_over_shared_items():
    def rows(vals):
        return {i: ItemRow(i, t, "", s) for i, (t, s) in vals.items()}

    cand = rows(
        {
            "a": ("easy", {"solved": 1.0, "word_acc": 0.9, "_cut": 1.0, "only_cand": 1.0}),
            "b": ("easy", {"solved": 1.0, "word_acc": 0.8}),
            "c": ("hard", {"solved": 0.0, "word_acc": 0.1}),
            "new": ("hard", {"solved": 1.0, "word_acc": 1.0}),
        }
    )
    ref = rows(
        {
            "a": ("easy", {"solved": 0.0, "word_acc": 0.5, "_cut": 0.0}),
            "b": ("easy", {"solved": 0.0, "word_acc": 0.4}),
            "c": ("hard", {"solved": 0.0, "word_acc": 0.3}),
        }
    )
    tests = compare(cand, ref, {"solved"})
    assert set(tests) == {"solved", "word_acc"}  # shared, never the _bookkeeping ones
    assert tests["solved"].n == 3 and tests["solved"].test == "mcnemar"
    assert tests["solved"].delta == pytest.approx(2 / 3)
    assert tests["word_acc"].test == "wilcoxon" and (
        tests["word_acc"].wins,
        tests["word_acc"].losses,
    ) == (2, 1)
    easy = compare(cand, ref, {"solved"}, ids={"a", "b", "new"})
    assert easy["solved"].n == 2 and easy["solved"].delta == 1.0
    assert compare(cand, {}, {"solved"}) == {}
