"""Live previews: evolution schedule, probes, random states forked around a preview."""

from __future__ import annotations

import random

import numpy as np
import torch

from mentor.evals import previews
from mentor.evals.previews import evolution_steps, is_evolution_step


def test_evolution_schedule() -> None:
    assert evolution_steps(30_000) == [
        0,
        10,
        25,
        50,
        100,
        250,
        500,
        1000,
        2500,
        5000,
        10000,
        20000,
        30000,
    ]
    assert evolution_steps(7) == [0]
    assert is_evolution_step(0) and is_evolution_step(2500) and is_evolution_step(40_000)
    assert not any(is_evolution_step(s) for s in (1, 9, 11, 24, 26, 999, 15_000, 10_010, -10))


def test_load_probes_default_is_the_syllo_probe_set() -> None:
    items = previews.load_probes(8)
    assert len(items) == 8
    assert all(i.golden and i.user_text.startswith("SYLLO Puzzle") for i in items)
    assert len(previews.load_probes(3)) == 3


def test_forked_rng_restores_every_random_state() -> None:
    torch.manual_seed(1)
    random.seed(1)
    np.random.seed(1)
    want = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(1)
    random.seed(1)
    np.random.seed(1)
    with previews.forked_rng():
        torch.rand(5), random.random(), np.random.rand(4)
    got = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(want[0], got[0]) and want[1:] == got[1:]
