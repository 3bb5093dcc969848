"""The lineage's learning-rate schedule: a function of the lineage's global step and tokens.

It is never built from a file's ``max_steps``: warmup runs once per lineage (global steps
``0..warmup_steps``; how many is fixed by :func:`lineage_warmup` when the lineage starts), then the decay follows the lineage's trained tokens against
``training.horizon_tokens``. The step lives in the scheduler's state (``scheduler.pt``, restored
with the optimizer); the tokens live in ``mentor_state.json``. So a new file continues the curve
where the last one left it (no sawtooth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def lineage_warmup(training: object, first_file_steps: int) -> int:
    """Warmup steps of a new lineage: ``warmup_ratio`` of its first file's optimizer steps
    (rounded down), at most ``warmup_steps``. Sized to what is trained, so a short first file
    trains most of its steps at full LR instead of spending them all warming up."""
    ratio = float(training.warmup_ratio)  # type: ignore[attr-defined]
    cap = int(training.warmup_steps)  # type: ignore[attr-defined]
    return max(0, min(cap, math.floor(ratio * first_file_steps + 1e-9)))


@dataclass
class LineageSchedule:
    kind: str  # constant | cosine | wsd
    warmup_steps: int
    horizon_tokens: int
    min_lr_ratio: float
    wsd_decay_fraction: float
    tokens: int = 0  # the lineage's trained tokens, updated as training goes

    @classmethod
    def from_config(
        cls, training: object, tokens: int = 0, warmup_steps: int | None = None
    ) -> LineageSchedule:
        """``warmup_steps``: the lineage's own (saved in its state); None = the config's cap."""
        return cls(
            kind=training.schedule,  # type: ignore[attr-defined]
            warmup_steps=training.warmup_steps if warmup_steps is None else warmup_steps,  # type: ignore[attr-defined]
            horizon_tokens=training.horizon_tokens,  # type: ignore[attr-defined]
            min_lr_ratio=training.min_lr_ratio,  # type: ignore[attr-defined]
            wsd_decay_fraction=training.wsd_decay_fraction,  # type: ignore[attr-defined]
            tokens=tokens,
        )

    def factor(self, step: int, tokens: int | None = None) -> float:
        """LR multiplier at global ``step`` (0-based count of finished optimizer steps)."""
        tokens = self.tokens if tokens is None else tokens
        warm = 1.0
        if self.warmup_steps > 0 and step < self.warmup_steps:
            warm = (step + 1) / (self.warmup_steps + 1)
        if self.kind == "constant":
            return warm
        progress = min(1.0, max(0.0, tokens / self.horizon_tokens))
        floor = self.min_lr_ratio
        if self.kind == "cosine":
            decay = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        else:  # wsd: warmup, stable, then linear decay over the last wsd_decay_fraction
            start = 1.0 - self.wsd_decay_fraction
            if progress <= start:
                decay = 1.0
            else:
                decay = 1.0 - (1 - floor) * (progress - start) / self.wsd_decay_fraction
        return warm * decay
