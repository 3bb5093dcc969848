"""Fixtures of the training tests: SYLLO files made by mentor's own generator, a small config."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mentor import config as config_mod
from mentor.config import Config


@pytest.fixture()
def syllo_file(tmp_path: Path) -> Callable[..., Path]:
    """``syllo_file(name, n, seed=1, tier="easy")``: a JSONL file of ``n`` generated puzzles
    (easy rows are 330-450 tokens with the tiny tokenizer; hard rows 750-950)."""
    from mentor.tasks.syllo.generate import generate

    def make(name: str, n: int, seed: int = 1, tier: str = "easy") -> Path:
        f = tmp_path / name
        f.write_text("".join(json.dumps(r) + "\n" for r in generate(n, seed, tier=tier)))
        return f

    return make


@pytest.fixture()
def train_cfg(workspace) -> Callable[..., Config]:
    """``train_cfg(**training)``: the workspace's config made small and quick (LoRA r 4, batch 2,
    no accumulation, log every step, no live previews, no periodic validation, 2 held-out rows
    of 20%), with ``training`` keys overridden."""

    def make(**training: object) -> Config:
        cfg = config_mod.load(workspace.config_file)
        t = cfg.training
        t.max_length, t.lora_r, t.lora_alpha, t.batch_size, t.grad_accum = 1024, 4, 4, 2, 1
        t.logging_steps, t.save_steps, t.warmup_steps = 1, 1000, 3
        t.learning_rate = 1e-3
        cfg.eval.val_every = 0
        cfg.eval.live_every = 0
        cfg.data.holdout_max = 2
        cfg.data.holdout_fraction = 0.2
        for k, v in training.items():
            setattr(t, k, v)
        return cfg

    return make
