"""The training callbacks: the preview budget and cadence, the monitor's alerts."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mentor import config as config_mod
from mentor.train.callbacks import LivePreviewCallback, MonitorCallback

REPO = Path(__file__).resolve().parents[3]


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location(
        "preview_overhead", REPO / "benchmarks" / "perf" / "preview_overhead.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _FakeRunner:
    max_new_tokens = 8

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []

    def run(self, model: Any, step: int, *, autocast_bf16: bool = False, base: bool = False):
        self.calls.append((step, base))
        ex = {
            "id": "p1",
            "tier": "easy",
            "prompt": "q",
            "golden": "a",
            "model_output": "a",
            "scores": {"exact": 1.0},
            "matches": True,
            "loss": 0.5,
        }
        return {
            "step": step,
            "ts": 0.0,
            "headline": "exact",
            "scores": {"exact": 1.0},
            "solved": 1,
            "n": 1,
            "solved_share": 1.0,
            "loss": 0.5,
            "seconds": 0.0,
            "adapters": "off" if base else "on",
            "examples": [ex],
        }


def test_budget_defers_previews_and_evolution(workspace, tmp_path: Path) -> None:
    cfg = config_mod.Config()
    rows = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
    renderer = SimpleNamespace(tokenizer=None, prompt=lambda m: "p")
    # built switched off (no tokenizer needed), then given a fake runner and switched on
    cb = LivePreviewCallback(workspace, cfg, tmp_path / "run", renderer, rows, every=0)
    cb.enabled, cb.every = True, 10
    cb.runner = _FakeRunner()  # type: ignore[assignment]
    ticks = {"n": 0}

    def tick() -> None:  # 1 s of training per step
        ticks["n"] += 1
        cb.train_s += 1.0

    cb._tick = tick  # type: ignore[method-assign]
    peft_like = SimpleNamespace(peft_config={}, disable_adapter=lambda: None)
    state = SimpleNamespace(global_step=0, is_world_process_zero=True)
    cb.on_train_begin(None, state, None, model=peft_like)
    assert cb.pending_base and not cb.runner.calls
    for step in range(1, 61):
        state.global_step = step
        cb.on_step_end(None, state, None, model=peft_like)
    calls = cb.runner.calls
    # the first preview of a run never waits: the untrained snapshot (adapters off) at step 1
    assert calls[0] == (0, True)
    assert cb.records[0]["taken_at_step"] == 1
    # the pending evolution step 10 is taken next, then 25 and 50 as they come (cheap previews)
    scheduled = [r.get("scheduled_step") for r in cb.records]
    assert scheduled[:2] == [0, 10]
    assert 25 in scheduled and 50 in scheduled
    evo = sorted(p.name for p in (tmp_path / "run" / "evolution").glob("*.json"))
    assert "step_0.json" in evo and f"step_{cb.records[1]['step']}.json" in evo
    snap = json.loads((tmp_path / "run" / "evolution" / "step_0.json").read_text())
    assert snap["adapters"] == "off" and snap["probes"][0]["model_output"] == "a"


def test_monitor_callback_records_alerts(workspace, tmp_path: Path) -> None:
    from mentor.monitor.status import read_status
    from mentor.store import connect, events

    run_dir = workspace.run_dir("r2")
    run_dir.mkdir(parents=True)
    recs = [{"step": i, "loss": 1.0, "tokens_per_s": 100.0} for i in range(1, 6)]
    recs.append({"step": 6, "loss": float("nan"), "tokens_per_s": 100.0})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    cb = MonitorCallback(workspace, config_mod.Config(), run_dir)
    state = SimpleNamespace(is_world_process_zero=True)
    cb.on_log(None, state, None)
    cb.on_log(None, state, None)  # de-duplicated
    conn = connect(workspace.db)
    evs = events.recent(conn, kinds=["alert"])
    conn.close()
    assert [e.data["alert"] for e in evs] == ["loss_nan"] and evs[0].level == "critical"
    assert any("not finite" in a for a in read_status(workspace)["active_alerts"])


@pytest.mark.slow
def test_preview_callback_on_tiny_model_leaves_training_unchanged(
    workspace, tiny_model_dir: Path, tmp_path: Path
) -> None:
    import torch

    from mentor.data.chat import ChatRenderer
    from mentor.models.loader import load_tokenizer
    from mentor.monitor.status import read_status
    from mentor.store import connect, events

    bench = _bench()
    cfg = config_mod.Config()
    common = dict(steps=6, batch_size=2, grad_accum=1, rows=24)
    plain, _ = bench.train_tiny(tiny_model_dir, tmp_path / "a", **common)
    rng_plain = torch.get_rng_state()
    renderer = ChatRenderer.from_config(load_tokenizer(tiny_model_dir), cfg.chat)
    run_dir = workspace.run_dir("r1")
    cb = LivePreviewCallback(
        workspace, cfg, run_dir, renderer, every=3, budget_share=None, max_new_tokens=12
    )
    cb.runner.prompts = cb.runner.prompts[:4]  # type: ignore[union-attr]
    cb.runner.probes = cb.runner.probes[:4]  # type: ignore[union-attr]
    live_state, _ = bench.train_tiny(
        tiny_model_dir, tmp_path / "b", callbacks=[cb], renderer=renderer, **common
    )
    rng_live = torch.get_rng_state()
    # the same adapter, bit for bit, and the same RNG afterwards
    assert plain.keys() == live_state.keys()
    for k in plain:
        assert torch.equal(plain[k], live_state[k]), k
    assert torch.equal(rng_plain, rng_live)

    recs = [json.loads(x) for x in (run_dir / "previews.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [0, 3, 6]
    for r in recs:
        assert r["headline"] == "solved" and r["n"] == 4
        assert set(r["scores"]) >= {"json_valid", "word_acc", "solved", "exact"}
        assert all(e["loss"] is not None and math.isfinite(e["loss"]) for e in r["examples"])
        assert all(e["new_tokens"] <= 12 for e in r["examples"])
        assert r["examples"][0]["golden"].startswith("{")
    # prompts are rendered exactly as training renders them
    first = cb.runner.probes[0]  # type: ignore[union-attr]
    assert cb.runner.prompts[0] == renderer.prompt(first.prompt_messages)  # type: ignore[union-attr]
    assert (run_dir / "evolution" / "step_0.json").is_file()
    conn = connect(workspace.db)
    evs = events.recent(conn, kinds=["preview"])
    conn.close()
    assert len(evs) == 3 and evs[0].data["step"] == 6 and "solved_share" in evs[0].data
    st = read_status(workspace)
    assert st["recent_examples"] and st["recent_examples"][-1]["step"] == 6
    assert st["total_evals"] == 12


@pytest.mark.slow
def test_overhead_benchmark_runs(tiny_model_dir: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "perf" / "preview_overhead.py"),
            "--steps",
            "3",
            "--grad-accum",
            "1",
            "--model",
            str(tiny_model_dir),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["benchmark"] == "preview_overhead" and last["steps"] == 3
    assert {"overhead_share", "train_s_with", "train_s_without", "previews"} <= set(last)
    assert last["max_new_tokens"] and last["max_new_tokens"] <= 512


def test_previews_ask_the_probe_split_for_puzzles_else_the_heldout_rows(
    workspace, tmp_path: Path
) -> None:
    from mentor.data.validate import validate_file
    from mentor.models.loader import load_tokenizer
    from mentor.tasks.syllo.generate import generate
    from mentor.train.callbacks import preview_probes

    cfg = config_mod.load(workspace.config_file)
    tok = load_tokenizer(cfg.model_path(workspace.home))
    chat = [
        {
            "messages": [
                {"role": "user", "content": f"{i}+1?"},
                {"role": "assistant", "content": f"{i + 1}"},
            ]
        }
        for i in range(4)
    ]
    for name, rows in (("p.jsonl", generate(3, 1)), ("c.jsonl", chat)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    puzzles = validate_file(None, cfg, tmp_path / "p.jsonl", tokenizer=tok)
    plain = validate_file(None, cfg, tmp_path / "c.jsonl", tokenizer=tok)
    assert preview_probes(puzzles, [1]) is None and preview_probes(puzzles, []) is None
    assert preview_probes(plain, [0, 2]) == [chat[0], chat[2]]
    assert preview_probes(plain, []) == []  # nothing held out: previews off
