"""The interrupt reaches transformers' continuous batching (a GPU path: on a CPU its paged cache
takes gigabytes and a minute to warm up, so it is checked here, skipped without CUDA)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mentor.config import Config
from mentor.engine import GenRequest, build_engine
from mentor.engine.base import GenerationInterrupted

pytestmark = pytest.mark.gpu


def test_interrupt_cancels_continuous_batching_within_seconds(tiny_model_dir: Path) -> None:
    cfg = Config()
    cfg.model.dtype = "bfloat16"
    engine = build_engine(tiny_model_dir, cfg=cfg, device="cuda", continuous=True)
    reqs = [GenRequest(engine.renderer.prompt(f"tile {i}"), max_new_tokens=3000) for i in range(64)]
    engine.generate(reqs[:2], batch_size=64)  # warm the manager up
    fired: list[float] = []

    def interrupt() -> bool:
        if len(fired) < 2:
            fired.append(time.monotonic())
            return False
        return True

    with pytest.raises(GenerationInterrupted):
        engine.generate(reqs, batch_size=64, interrupt=interrupt)
    # the requests still running are cancelled, not flushed to their 3000-token cap
    assert time.monotonic() - fired[-1] < 10.0
