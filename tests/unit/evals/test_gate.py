"""The regression gate's promote and refuse paths."""

from __future__ import annotations

from mentor.config import EvalConfig
from mentor.evals.gate import ScoreSet, gate


def _set(values):
    return ScoreSet(
        {f"b/{i}": {"solved": float(v), "loss": 1.0 - 0.5 * v} for i, v in enumerate(values)}
    )


def test_promotes_without_serving_version():
    d = gate(_set([0, 1]), None, EvalConfig())
    assert d.promote and "no serving" in d.reason


def test_refuses_a_significant_drop():
    serving = _set([1] * 30)
    cand = _set([0] * 20 + [1] * 10)
    d = gate(cand, serving, EvalConfig())
    assert not d.promote
    assert d.delta is not None and d.delta < 0
    assert d.p_value is not None and d.p_value < 0.05
    assert "significantly worse" in d.reason


def test_promotes_when_not_significantly_worse():
    serving = _set([1] * 30)
    cand = _set([0] * 2 + [1] * 28)  # 2 discordant pairs: p = 0.5
    d = gate(cand, serving, EvalConfig())
    assert d.promote and d.p_value is not None and d.p_value > 0.05
    better = gate(_set([1] * 30), _set([0] * 30), EvalConfig())
    assert better.promote and better.delta == 1.0


def test_lower_is_better_metric_and_disabled_gate():
    cfg = EvalConfig(gate_metric="loss")
    d = gate(_set([0] * 30), _set([1] * 30), cfg)  # loss went up from 0.5 to 1.0 on every item
    assert not d.promote
    assert gate(_set([0] * 30), _set([1] * 30), EvalConfig(gate_enabled=False)).promote
