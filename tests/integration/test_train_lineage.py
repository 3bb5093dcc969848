"""Continuous lineage: one optimizer across files, exact resume, ledger, config (lessons 1, 2, 4, 16)."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from safetensors.torch import load_file

from mentor import control as control_channel
from mentor.paths import Workspace
from mentor.store import connect
from mentor.store.lineage import rows as ledger_rows
from mentor.store.runs import listing
from mentor.train import train_file

pytestmark = pytest.mark.slow


def _stop_after(n: int, action: str = "pause"):
    calls = {"n": 0}

    def control() -> str | None:
        calls["n"] += 1
        return action if calls["n"] == n else None

    return control


def _adapter(ws) -> dict[str, torch.Tensor]:
    return load_file(str(ws.current / "adapter_model.safetensors"))


def _records(ws, run_id: str) -> list[dict]:
    return [json.loads(x) for x in ws.run_folder(run_id).metrics.read_text().splitlines()]


def test_two_files_one_optimizer_and_schedule(workspace, train_cfg, syllo_file) -> None:
    cfg = train_cfg()
    a, b = syllo_file("a.jsonl", 10, seed=1), syllo_file("b.jsonl", 10, seed=2)
    oa = train_file(workspace, cfg, a)
    assert oa.status == "completed" and oa.rows_trained == oa.rows_total == 8
    opt_a = torch.load(workspace.current / "optimizer.pt", weights_only=False)
    g_a = oa.global_step
    assert all(int(s["step"]) == g_a for s in opt_a["state"].values())
    ob = train_file(workspace, cfg, b)
    assert ob.status == "completed" and ob.global_step > g_a
    opt_b = torch.load(workspace.current / "optimizer.pt", weights_only=False)
    assert all(int(s["step"]) == ob.global_step for s in opt_b["state"].values())  # carried over
    sched = torch.load(workspace.current / "scheduler.pt", weights_only=False)
    assert sched["last_epoch"] == ob.global_step
    # one record per step, LR continuous at the boundary, warmup only once (lineage steps 1..2)
    lrs = [(m["step"], m["lr"]) for o in (oa, ob) for m in _records(workspace, o.run_id)]
    steps = [s for s, _ in lrs]
    assert steps == list(range(1, ob.global_step + 1))
    # One curve across both files: warmup once (steps 1..W of the lineage), then the decay; file
    # b's first step continues where a stopped (a restart would fall back to warmup step 1).
    # (warmup_ratio 1.0: warmup_steps 3 capped by file a's 2 steps, fixed in the lineage's state)
    peak, warm = cfg.training.learning_rate, min(cfg.training.warmup_steps, g_a)
    assert json.loads(workspace.lineage_state.read_text())["warmup_steps"] == warm
    expected = [peak * min(1.0, s / (warm + 1)) for s in steps]
    assert [lr for _, lr in lrs] == pytest.approx(expected, rel=0.02)
    state = json.loads(workspace.lineage_state.read_text())
    assert state["global_step"] == ob.global_step and len(state["files"]) == 2
    # a completed file is not trained twice unless forced
    again = train_file(workspace, cfg, a)
    assert again.rows_trained == 0 and "already trained" in again.message
    conn = connect(workspace.db)
    assert {r.status for r in listing(conn)} == {"completed"}
    kinds = [r[0] for r in conn.execute("SELECT kind FROM events ORDER BY id")]
    assert kinds.count("train.started") == 2 and kinds.count("train.finished") == 2
    run = workspace.run_folder(oa.run_id)
    assert all(p.is_file() for p in (run.config, run.meta, run.metrics, run.summary))


def test_pause_resume_equals_uninterrupted(workspace, tmp_path, train_cfg, syllo_file) -> None:
    """Lesson 1/2: pause mid-file, resume -> same adapter as one run; every row once (ledger)."""
    cfg = train_cfg(lora_dropout=0.1)
    f = syllo_file("p.jsonl", 14)
    full = train_file(workspace, cfg, f)
    assert full.status == "completed"

    ws2 = Workspace(tmp_path / "ws2")
    for d in ws2.layout():
        d.mkdir(parents=True, exist_ok=True)
    o1 = train_file(ws2, cfg, f, control=_stop_after(2, "pause"))
    assert o1.status == "paused" and 0 < o1.next_row < o1.rows_total and o1.global_step == 2
    state = json.loads(ws2.lineage_state.read_text())
    assert state["files"][o1.file_hash]["status"] == "in_progress"  # not marked completed
    o2 = train_file(ws2, cfg, f)
    assert o2.status == "completed" and o2.global_step == full.global_step
    assert o1.rows_trained + o2.rows_trained == full.rows_total
    a, b = _adapter(workspace), _adapter(ws2)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    conn = connect(ws2.db)
    rows = ledger_rows(conn, state["lineage_id"], o1.file_hash)
    assert len(rows) == len(set(rows)) == full.rows_total  # each row exactly once
    # the paused run logged its last step; the two runs together log every step once
    steps = [m["step"] for o in (o1, o2) for m in _records(ws2, o.run_id)]
    assert steps == list(range(1, full.global_step + 1))


def test_sigterm_stops_within_a_step_and_resumes(workspace, train_cfg, syllo_file) -> None:
    """Lesson 16: SIGTERM checkpoints at the next step instead of waiting for the file."""
    cfg = train_cfg()
    f = syllo_file("s.jsonl", 12)
    calls = {"n": 0}

    def control() -> str | None:
        calls["n"] += 1
        if calls["n"] == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return None

    o1 = train_file(workspace, cfg, f, control=control)
    assert o1.status == "stopped" and o1.global_step == 2  # signal during step 1, stop after step 2
    # the default control reads the control file; a stale request does not stop a new run
    control_channel.request(workspace, "stop")
    os.utime(workspace.control_file, (0, 0))
    o2 = train_file(workspace, cfg, f)
    assert o2.status == "completed"
    conn = connect(workspace.db)
    lineage = json.loads(workspace.lineage_state.read_text())["lineage_id"]
    rows = ledger_rows(conn, lineage, o1.file_hash)
    assert sorted(rows) == sorted(set(rows)) and len(rows) == o1.rows_total


def test_config_values_honoured(workspace, train_cfg, syllo_file) -> None:
    """Lesson 4: lora shape and logging steps reach training; max_length refuses what is longer."""
    from mentor.errors import DataError

    cfg = train_cfg(lora_dropout=0.2, logging_steps=2, max_length=900, lora_r=2, lora_alpha=6)
    cfg.training.log_points_per_file = 1  # keep the configured cadence on this short file
    o = train_file(workspace, cfg, syllo_file("c.jsonl", 12))
    ac = json.loads((workspace.current / "adapter_config.json").read_text())
    assert ac["lora_dropout"] == 0.2 and ac["r"] == 2 and ac["lora_alpha"] == 6
    steps = [m["step"] for m in _records(workspace, o.run_id)]
    last = o.global_step
    assert steps == [s for s in range(1, last + 1) if s % 2 == 0 or s == last]
    small = train_cfg(max_length=140)  # every easy puzzle is longer than 140 tokens
    with pytest.raises(DataError, match="max_length 140"):
        train_file(workspace, small, syllo_file("d.jsonl", 10, seed=3))


def test_pack_length_follows_max_length(workspace, tmp_path, train_cfg, syllo_file) -> None:
    """Lesson 4: the configured max_length is the pack length (not a constant): at 400 tokens
    few pairs of puzzles fit a pack (150-360 tokens each), at 1024 three or four do, so the
    step count changes with it (a constant 512 or 1024 would give the same count twice)."""
    f = syllo_file("k.jsonl", 6)
    steps = {}
    for n, length in enumerate((400, 1024)):
        ws = Workspace(tmp_path / f"ws{n}")
        for d in ws.layout():
            d.mkdir(parents=True, exist_ok=True)
        cfg = train_cfg(max_length=length, batch_size=1)
        cfg.data.holdout_fraction = 0.0
        o = train_file(ws, cfg, f)
        assert o.status == "completed" and o.rows_trained == 6
        steps[length] = o.global_step
    assert steps[400] >= 5  # mostly one puzzle per pack
    assert steps[1024] == 2  # three or four per pack
