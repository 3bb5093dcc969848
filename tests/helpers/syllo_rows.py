"""SYLLO rows in the two shapes the users' files have, built with mentor's own generator.

- :func:`three_tier_rows`: ``{"messages": [user, assistant], "metadata": {...}}`` chat rows,
  easy/medium/hard round robin (``syllo_3tier_sample.jsonl``'s shape).
- :func:`ten_level_rows`: flat ``prompt``/``solution`` rows with ``level`` and
  ``output_variant`` at the top (``syllo_10level_sample.jsonl``'s shape), levels 1..10 and the
  twelve answer shapes round robin, so ``max(10, 12)`` rows hold every level and every shape.

Tests use these instead of the users' rows, so they run on a fresh clone; the checks against the
users' real rows live in ``tests/compat/``.
"""

from __future__ import annotations

import random
from typing import Any

from mentor.tasks.syllo import VARIANTS, generate, render_answer
from mentor.tasks.syllo.generate import LEVELS, make_puzzle, puzzle_id, puzzle_row

#: rows that hold every level (10) and every answer shape (12)
ALL_SHAPES = max(10, len(VARIANTS))


def three_tier_rows(count: int, seed: int = 5) -> list[dict[str, Any]]:
    """``count`` chat rows, tiers round robin (easy, medium, hard, easy, ...)."""
    return generate(count, seed, tier="mixed", exclude_benchmarks=False)


def ten_level_rows(count: int = ALL_SHAPES, seed: int = 6) -> list[dict[str, Any]]:
    """``count`` prompt/solution rows: row i is level ``1 + i % 10`` in answer shape
    ``VARIANTS[i % 12]``, made the way ``generate(..., variants=True)`` makes its rows (which
    draws the shape at random: here each shape is sure to appear)."""
    rows = []
    for i in range(count):
        level, variant = 1 + i % 10, VARIANTS[i % len(VARIANTS)]
        cfg = LEVELS[level]
        rng = random.Random(f"syllo:{seed}:{i}")
        puzzle = make_puzzle(cfg, rng, puzzle_id(seed, i), level=level, variant=variant)
        row = puzzle_row(puzzle, cfg, seed=seed, index=i, split="test")
        meta = row["metadata"]
        rows.append(
            {
                "puzzle_id": meta["puzzle_id"],
                "difficulty": meta["difficulty"],
                "rules": meta["rules"],
                "words": meta["words"],
                "syllable_bank": list(puzzle.bank),
                "red_herrings": meta["red_herrings"],
                "metadata": {"difficulty_config": meta["difficulty_config"]},
                "level": level,
                "prompt": row["messages"][0]["content"],
                "solution": render_answer(puzzle, variant),
                "output_variant": variant,
            }
        )
    return rows
