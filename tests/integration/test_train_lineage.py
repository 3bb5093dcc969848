"""Continuous lineage: one optimizer across files, exact resume, ledger, faults (lessons 1, 2, 4, 10, 16)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mentor import control as control_channel
from mentor.config import Config
from mentor.store import connect
from mentor.store.lineage import rows as ledger_rows
from mentor.train import core, train_file


def _cfg(model_dir: Path, **training) -> Config:
    cfg = Config()
    cfg.model.path = str(model_dir)
    t = cfg.training
    t.max_length, t.lora_r, t.lora_alpha, t.batch_size, t.grad_accum = 1024, 4, 4, 2, 1
    t.logging_steps, t.save_steps, t.warmup_steps = 1, 1000, 3
    t.learning_rate = 1e-3
    cfg.eval.val_every = 0
    cfg.data.holdout_max = 2
    cfg.data.holdout_fraction = 0.2
    for k, v in training.items():
        setattr(t, k, v)
    return cfg


def _file(tmp: Path, origin: Path, name: str, rows: range) -> Path:
    lines = (origin / "syllo_3tier_sample.jsonl").read_text().splitlines()
    f = tmp / name
    f.write_text("\n".join(lines[i] for i in rows) + "\n")
    return f


def _stop_after(n: int, action: str = "pause"):
    calls = {"n": 0}

    def control() -> str | None:
        calls["n"] += 1
        return action if calls["n"] == n else None

    return control


def _adapter(ws) -> dict[str, torch.Tensor]:
    return load_file(str(ws.current / "adapter_model.safetensors"))


def test_two_files_one_optimizer_and_schedule(workspace, origin_data: Path, tmp_path: Path) -> None:
    cfg = _cfg(_model(workspace))
    a = _file(tmp_path, origin_data, "a.jsonl", range(0, 10))
    b = _file(tmp_path, origin_data, "b.jsonl", range(10, 20))
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
    # LR continuous at the boundary, warmup only once (steps 1..3 of the lineage)
    lrs = []
    for o in (oa, ob):
        lrs += [
            json.loads(x)
            for x in (workspace.run_dir(o.run_id) / "metrics.jsonl").read_text().splitlines()
        ]
    lrs = [(m["step"], m["lr"]) for m in lrs if "lr" in m]
    steps = [s for s, _ in lrs]
    assert steps == list(range(1, ob.global_step + 1))
    # One curve across both files: warmup once (steps 1..W of the lineage), then the decay; file
    # b's first step continues where a stopped (a restart would fall back to warmup step 1).
    peak, warm = cfg.training.learning_rate, cfg.training.warmup_steps
    expected = [peak * min(1.0, s / (warm + 1)) for s in steps]
    assert [lr for _, lr in lrs] == pytest.approx(expected, rel=0.02)
    state = json.loads((workspace.current / "mentor_state.json").read_text())
    assert state["global_step"] == ob.global_step and len(state["files"]) == 2
    # a completed file is not trained twice unless forced
    again = train_file(workspace, cfg, a)
    assert again.rows_trained == 0 and "already trained" in again.message
    conn = connect(workspace.db)
    assert {r[0] for r in conn.execute("SELECT status FROM runs")} == {"completed"}
    kinds = [r[0] for r in conn.execute("SELECT kind FROM events ORDER BY id")]
    assert kinds.count("train.started") == 2 and kinds.count("train.finished") == 2
    run = workspace.run_dir(oa.run_id)
    assert {"config.yaml", "meta.json", "metrics.jsonl"} <= {p.name for p in run.iterdir()}


def _model(ws) -> Path:
    from mentor import config as config_mod

    return config_mod.load(ws.config_file).model_path(ws.home)


def test_pause_resume_equals_uninterrupted(workspace, tmp_path: Path, origin_data: Path) -> None:
    """Lesson 1/2: pause mid-file, resume -> same adapter as one run; every row once (ledger)."""
    from mentor.paths import Workspace

    cfg = _cfg(_model(workspace), lora_dropout=0.1)
    f = _file(tmp_path, origin_data, "p.jsonl", range(0, 14))
    full = train_file(workspace, cfg, f)
    assert full.status == "completed"

    ws2 = Workspace(tmp_path / "ws2")
    for d in ws2.layout():
        d.mkdir(parents=True, exist_ok=True)
    o1 = train_file(ws2, cfg, f, control=_stop_after(2, "pause"))
    assert o1.status == "paused" and 0 < o1.next_row < o1.rows_total and o1.global_step == 2
    state = json.loads((ws2.current / "mentor_state.json").read_text())
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


def test_sigterm_stops_within_a_step_and_resumes(
    workspace, tmp_path: Path, origin_data: Path
) -> None:
    """Lesson 16: SIGTERM checkpoints at the next step instead of waiting for the file."""
    cfg = _cfg(_model(workspace))
    f = _file(tmp_path, origin_data, "s.jsonl", range(0, 12))
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
    lineage = json.loads((workspace.current / "mentor_state.json").read_text())["lineage_id"]
    rows = ledger_rows(conn, lineage, o1.file_hash)
    assert sorted(rows) == sorted(set(rows)) and len(rows) == o1.rows_total


def test_config_values_honoured(workspace, tmp_path: Path, origin_data: Path) -> None:
    """Lesson 4: max_length, dropout, logging_steps reach training."""
    cfg = _cfg(
        _model(workspace), lora_dropout=0.2, logging_steps=2, max_length=900, lora_r=2, lora_alpha=6
    )
    f = _file(tmp_path, origin_data, "c.jsonl", range(0, 12))
    o = train_file(workspace, cfg, f)
    ac = json.loads((workspace.current / "adapter_config.json").read_text())
    assert ac["lora_dropout"] == 0.2 and ac["r"] == 2 and ac["lora_alpha"] == 6
    steps = [
        json.loads(x)["step"]
        for x in (workspace.run_dir(o.run_id) / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps and all(s % 2 == 0 for s in steps)
    from mentor.errors import DataError

    small = _cfg(_model(workspace), max_length=300)
    with pytest.raises(DataError, match="max_length 300"):
        train_file(workspace, small, _file(tmp_path, origin_data, "d.jsonl", range(20, 30)))


def test_oom_retry_halves_micro_batch(
    workspace, tmp_path: Path, origin_data: Path, monkeypatch
) -> None:
    cfg = _cfg(_model(workspace), batch_size=4)
    f = _file(tmp_path, origin_data, "o.jsonl", range(0, 16))
    fired = {"n": 0}

    def hook(step: int, model) -> None:
        if step == 1 and fired["n"] == 0:
            fired["n"] += 1
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(core, "FAULT_HOOK", hook)
    o = train_file(workspace, cfg, f)
    assert o.status == "completed" and o.metrics["oom_split"] == 2
    conn = connect(workspace.db)
    ev = conn.execute("SELECT data FROM events WHERE kind='train.oom_retry'").fetchall()
    assert len(ev) == 1 and json.loads(ev[0][0])["grad_accum"] == 2
    assert all(torch.isfinite(v).all() for v in _adapter(workspace).values())


def test_nan_stops_and_keeps_last_good_checkpoint(
    workspace, tmp_path: Path, origin_data: Path, monkeypatch
) -> None:
    cfg = _cfg(_model(workspace), save_steps=2)
    f = _file(tmp_path, origin_data, "n.jsonl", range(0, 16))

    def hook(step: int, model) -> None:
        if step == 3:
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if "lora_B" in n:
                        p.fill_(float("nan"))

    monkeypatch.setattr(core, "FAULT_HOOK", hook)
    o = train_file(workspace, cfg, f)
    assert (
        o.status == "failed" and "NaN" in o.message and "last good checkpoint (step 2)" in o.message
    )
    state = json.loads((workspace.current / "mentor_state.json").read_text())
    assert state["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in _adapter(workspace).values())
    conn = connect(workspace.db)
    assert conn.execute("SELECT MAX(step) FROM ledger").fetchone()[0] == 2
    assert conn.execute("SELECT status FROM runs").fetchone()[0] == "failed"
