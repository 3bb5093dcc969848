"""bf16 autocast on the CPU is chosen by measurement, cached per machine and model shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from mentor.models import precision
from mentor.models.loader import load_model


@pytest.fixture()
def model_and_batch(tiny_model_dir: Path) -> tuple[Any, dict[str, Any]]:
    model = load_model(tiny_model_dir, device="cpu", trainable=True)
    model.config.use_cache = False
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (2, 128), generator=g)
    return model, {"input_ids": ids, "labels": ids, "use_cache": False}


def _counted(step: Any) -> tuple[Any, dict[bool, int]]:
    calls = {False: 0, True: 0}

    def run(bf16: bool) -> None:
        calls[bf16] += 1
        step(bf16)

    return run, calls


def test_choice_is_the_faster_measured_option_and_is_cached(model_and_batch, tmp_path: Path):
    model, batch = model_and_batch
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    cache = tmp_path / "precision.json"
    key = precision.machine_key() + "||" + precision.shape_key(model, "full|2x128")
    step, calls = _counted(precision.train_step(model, batch))

    first = precision.choose(cache, key, step, rounds=2)
    assert not first.cached and calls[False] == calls[True] == 3  # 1 warmup + 2 rounds each
    assert first.bf16 == (first.bf16_s < first.fp32_s)  # whatever this CPU does, the faster wins
    assert first.fp32_s > 0 and first.bf16_s > 0
    # measuring trains nothing and leaves the random stream where training expects it
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)

    again = precision.choose(cache, key, step, rounds=2)
    assert again.cached and calls[False] == calls[True] == 3  # no second measurement
    assert (again.bf16, again.fp32_s, again.bf16_s) == (first.bf16, first.fp32_s, first.bf16_s)
    assert json.loads(cache.read_text())[key]["bf16"] == first.bf16
    # another shape is another entry: measured, not taken from the first
    other = precision.choose(cache, key + "|other", step, rounds=1)
    assert not other.cached and len(json.loads(cache.read_text())) == 2


def _slower_when(slow_bf16: bool, model: Any, batch: dict[str, Any]) -> Any:
    """A real step that does five passes instead of one under one precision."""
    one = precision.train_step(model, batch)

    def step(bf16: bool) -> None:
        for _ in range(5 if bf16 == slow_bf16 else 1):
            one(bf16)

    return step


def test_picks_fp32_when_bf16_is_slower_and_bf16_when_faster(model_and_batch, tmp_path: Path):
    model, batch = model_and_batch
    cache = tmp_path / "precision.json"
    slow_bf16 = precision.choose(cache, "a", _slower_when(True, model, batch), rounds=3)
    assert not slow_bf16.bf16 and slow_bf16.bf16_s > slow_bf16.fp32_s
    slow_fp32 = precision.choose(cache, "b", _slower_when(False, model, batch), rounds=3)
    assert slow_fp32.bf16 and slow_fp32.fp32_s > slow_fp32.bf16_s


def test_an_unreadable_cache_is_measured_again(model_and_batch, tmp_path: Path):
    model, batch = model_and_batch
    cache = tmp_path / "precision.json"
    cache.write_text("{not json")
    step, calls = _counted(precision.train_step(model, batch))
    choice = precision.choose(cache, "k", step, rounds=1)
    assert not choice.cached and calls[True] == 2
    assert "k" in json.loads(cache.read_text())
