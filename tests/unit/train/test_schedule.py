"""The lineage's LR schedule: warmup once by step, decay by the lineage's tokens."""

from __future__ import annotations

import pytest

from mentor.train.schedule import LineageSchedule


def _sched(kind: str) -> LineageSchedule:
    return LineageSchedule(kind, 4, 1000, 0.1, 0.2)


def test_warmup_is_by_global_step_only() -> None:
    s = _sched("constant")
    assert [s.factor(k) for k in range(6)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])
    assert s.factor(2, tokens=10**9) == pytest.approx(0.6)  # tokens never touch a constant


def test_cosine_and_wsd_decay_by_lineage_tokens_to_the_floor() -> None:
    cos = _sched("cosine")
    assert cos.factor(10, tokens=0) == 1.0
    assert cos.factor(10, tokens=500) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cos.factor(10, tokens=1000) == pytest.approx(0.1) == cos.factor(10, tokens=5000)
    wsd = _sched("wsd")
    assert wsd.factor(10, tokens=800) == 1.0  # stable until the last 20% of the horizon
    assert wsd.factor(10, tokens=900) == pytest.approx(1 - 0.9 * 0.5)
    assert wsd.factor(10, tokens=1000) == pytest.approx(0.1)
    wsd.tokens = 900  # training moves the lineage's tokens; factor() reads them by default
    assert wsd.factor(10) == pytest.approx(0.55)
