"""``Engine.generate(interrupt=...)``: a cut reaches inside a batch, after any decode step.

A pause during an evaluation must not wait for a batch that takes minutes on a CPU, so the
interrupt is polled per decode step; when it fires the call raises ``GenerationInterrupted``
and no partial result comes back.
"""

from __future__ import annotations

import pytest

from mentor.config import Config
from mentor.engine import GenRequest, build_engine
from mentor.engine.base import GenerationInterrupted


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    cfg = Config()
    cfg.model.dtype = "float32"
    return build_engine(tiny_model_dir, cfg=cfg, device="cpu")


class Countdown:
    """An interrupt that fires on its ``n``-th call and counts every call."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.n


def _reqs(engine, n: int, max_new: int) -> list[GenRequest]:
    return [
        GenRequest(engine.renderer.prompt(f"tell me about tile {i}"), max_new_tokens=max_new)
        for i in range(n)
    ]


def test_interrupt_cuts_inside_one_batch(engine) -> None:
    # one batch of 4 rows with a cap of 400 tokens: the cut comes after a handful of steps,
    # so the interrupt is polled inside model.generate, not only between batches
    stop = Countdown(5)
    with pytest.raises(GenerationInterrupted):
        engine.generate(_reqs(engine, 4, 400), batch_size=8, interrupt=stop)
    assert stop.calls == 5  # polled once before the batch, then once per decode step


def test_interrupt_before_a_batch_and_a_quiet_one_changes_nothing(engine) -> None:
    reqs = _reqs(engine, 3, 6)
    with pytest.raises(GenerationInterrupted):
        engine.generate(reqs, batch_size=1, interrupt=lambda: True)
    quiet = Countdown(10**9)
    got = engine.generate(reqs, batch_size=1, interrupt=quiet)
    want = engine.generate(reqs, batch_size=1)
    assert [g.text for g in got] == [w.text for w in want]
    assert quiet.calls >= len(reqs)  # at least once per batch
