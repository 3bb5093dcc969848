"""Trainer settings that depend on the file: the logging cadence (defect 6)."""

from __future__ import annotations

import pytest

from mentor.config import Config
from mentor.train.trainer import logging_every


@pytest.mark.parametrize(
    ("steps", "logging_steps", "expected"),
    [(4, 10, 1), (19, 10, 1), (60, 10, 3), (200, 10, 10), (5000, 10, 10), (100, 2, 2)],
)
def test_logging_cadence_leaves_about_twenty_points_per_file(
    steps: int, logging_steps: int, expected: int
) -> None:
    cfg = Config()
    cfg.training.logging_steps = logging_steps
    every = logging_every(cfg, steps)
    assert every == expected
    assert steps // every >= min(steps, cfg.training.log_points_per_file)
