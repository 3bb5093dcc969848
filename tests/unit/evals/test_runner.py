"""The runner: one prompt template, the adapter it is asked for reaches every evaluator, and
the baseline of a version on the workspace's base runs on the same engine with adapters off."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.replay import ReplayEngine
from helpers.syllo_rows import three_tier_rows
from mentor import config as config_mod
from mentor.config import Config
from mentor.data.chat import ChatRenderer
from mentor.engine import BASE_ADAPTER, GenResult
from mentor.errors import ConfigError
from mentor.evals.runner import evaluate, run_task
from mentor.evals.tasks import data_task, items_from_rows
from mentor.models.loader import load_tokenizer


class _Capture:
    """A recording engine: what does the runner send, under which adapter?"""

    def __init__(self, tokenizer, renderer):
        self.tokenizer, self.renderer, self.device = tokenizer, renderer, "cpu"
        self.prompts, self.adapters, self.nll_adapters = [], [], []

    def generate(self, requests, *, batch_size=32, progress=None, interrupt=None):
        self.prompts += [r.prompt for r in requests]
        self.adapters += [r.adapter for r in requests]
        if progress is not None:
            progress(len(requests))
        return [GenResult("", 1, 0, "stop") for _ in requests]

    def nll(self, batch, *, adapter=None):
        self.nll_adapters.append(adapter)
        n = batch["input_ids"].shape[0]
        return [2.0] * n, [2] * n


def _engine(tiny_model_dir: Path, cfg: Config) -> _Capture:
    tok = load_tokenizer(tiny_model_dir)
    return _Capture(tok, ChatRenderer.from_config(tok, cfg.chat))


def test_prompt_is_the_training_prompt_with_system(tiny_model_dir):
    # Lesson 9: evaluation prompts carry the same system prompt as training (one renderer).
    cfg = Config()
    cfg.chat.default_system_prompt = "You solve SYLLO puzzles."
    eng = _engine(tiny_model_dir, cfg)
    task = data_task(three_tier_rows(2), "s")
    run_task(eng, task, task.items, cfg=cfg)
    rendered = eng.renderer.render(task.items[0].messages)
    assert eng.prompts[0] == rendered.text[: rendered.spans[0][0]]
    assert "You solve SYLLO puzzles." in eng.prompts[0]


def test_the_adapter_reaches_generation_and_scoring(tiny_model_dir):
    cfg = Config()
    eng = _engine(tiny_model_dir, cfg)
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(3)
    ]
    task = data_task(rows, "g")  # exact_match (generates) + perplexity (scores)
    seen = []
    run = run_task(eng, task, task.items, cfg=cfg, adapter="v7", progress=lambda *a: seen.append(a))
    assert eng.adapters == ["v7"] * 3 and set(eng.nll_adapters) == {"v7"}
    assert [r.scores["loss"] for r in run.rows] == [1.0] * 3  # 2.0 NLL over 2 tokens
    assert seen[-1] == ("g", 6, 6)  # one generation pass + one scoring pass per item


def _fake_adapter(d: Path) -> None:
    d.mkdir(parents=True)
    (d / "adapter_config.json").write_text("{}")
    (d / "adapter_model.safetensors").write_bytes(b"x")


def test_baseline_on_the_same_engine_with_adapters_off(workspace, tiny_model_dir):
    """A version on the workspace's base: its baseline is the same engine under BASE_ADAPTER,
    no second model (backend 'none' would refuse to build one)."""
    _fake_adapter(workspace.version_dir("v002") / "adapter")
    cfg = config_mod.load(workspace.config_file, ["eval.max_new_tokens=8"])
    rows = three_tier_rows(3)
    tok = load_tokenizer(tiny_model_dir)
    renderer = ChatRenderer.from_config(tok, cfg.chat)
    answers = {renderer.prompt(i.prompt_messages): i.golden or "" for i in items_from_rows(rows)}
    eng = ReplayEngine(answers, tok, renderer)
    res = evaluate(workspace, cfg, "v002", data=rows, engine=eng, backend="none", report=False)
    assert eng.adapters == [None] * 3 + [BASE_ADAPTER] * 3
    assert res.benchmarks["data"].baseline_eval_id is not None
    # a full-model version is not the base: its baseline needs an engine of its own
    full = workspace.version_dir("v003") / "model"
    full.mkdir(parents=True)
    for f in tiny_model_dir.iterdir():
        (full / f.name).write_bytes(f.read_bytes())
    (full / "config.json").write_text((tiny_model_dir / "config.json").read_text() + "\n")
    with pytest.raises(ConfigError, match="backend 'none'"):
        evaluate(workspace, cfg, "v003", data=rows[:1], engine=eng, backend="none", report=False)
