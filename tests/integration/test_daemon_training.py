"""The daemon with real training (tiny model, CPU): files, pause/resume, crashes, stop, consolidation.

Rows are short arithmetic chats so that one optimizer step takes a fraction of a second here.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mentor.paths import Workspace

pytestmark = pytest.mark.slow

OVR = [
    "training.max_length=512",
    "training.lora_r=4",
    "training.lora_alpha=4",
    "training.save_steps=2",
    "training.batch_size=2",
    "training.grad_accum=1",
    "training.packing=false",
    "training.warmup_steps=2",
    "eval.live_every=0",
    "eval.val_every=0",
    "eval.quick_per_tier=0",
    "data.holdout_fraction=0",
    "daemon.settle_seconds=0.3",
    "daemon.backoff_seconds=0",
    "daemon.min_free_gib=0",
    "daemon.poll_seconds=0.2",
    "daemon.snapshot_at=null",
    "eval.full_when_idle=false",
]


def rows_file(path: Path, n: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for i in range(n):
            a, b = seed * 1000 + i, i + 7
            f.write(
                json.dumps(
                    {
                        "messages": [
                            {"role": "user", "content": f"{a} plus {b}?"},
                            {"role": "assistant", "content": str(a + b)},
                        ]
                    }
                )
                + "\n"
            )
    return path


def q(ws: Workspace, sql: str, *args: object) -> list[sqlite3.Row]:
    c = sqlite3.connect(ws.db, timeout=30)
    c.row_factory = sqlite3.Row
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def ledger_rows(ws: Workspace) -> list[int]:
    """Rows trained as their own file's (replayed rows of earlier files are not progress)."""
    return [r[0] for r in q(ws, "SELECT row_index FROM ledger WHERE replay = 0")]


def drive(d, until, timeout: float = 240.0) -> None:
    t0 = time.time()
    while not until():
        d.run_once(time.time())
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.1)


def states(ws: Workspace) -> list[str]:
    return [r["state"] for r in q(ws, "SELECT state FROM jobs ORDER BY id")]


def test_files_versions_then_consolidation_base(workspace: Workspace) -> None:
    from mentor.daemon.consolidate import consolidate
    from mentor.daemon.service import Daemon
    from mentor.store import connect, events

    ws = workspace
    d = Daemon(ws, overrides=OVR, watch=False)
    d.start()
    try:
        rows_file(ws.inbox / "a.jsonl", 8, 1)
        (ws.inbox / "bad.jsonl").write_text('{"messages": [{"role": "user", "content": "x"}]}\n')
        rows_file(ws.inbox / "more" / "c.jsonl", 6, 2)
        drive(d, lambda: len(states(ws)) == 3 and all(s in ("done", "failed") for s in states(ws)))
        assert states(ws).count("done") == 2 and states(ws).count("failed") == 1
        assert list(ws.failed.glob("*bad.jsonl.error.json"))
        vs = q(ws, "SELECT name, status FROM versions ORDER BY name")
        assert len(vs) == 2 and vs[-1]["status"] == "serving"
        assert sorted(ledger_rows(ws)) == sorted(list(range(8)) + list(range(6)))
        replayed = q(ws, "SELECT DISTINCT file_hash FROM ledger WHERE replay = 1")
        assert len(replayed) == 1  # training.replay_fraction's default replays the first file

        conn = connect(ws.db)
        cfg = d.cfg
        r = consolidate(ws, cfg, conn, reason="test")
        merged = (ws.versions / r["version"] / "model").resolve()
        assert (merged / "config.json").is_file() and list(merged.glob("*.safetensors"))
        assert events.recent(conn, kinds=["lineage.optimizer_restart"])
        assert list(ws.backups.glob("*before-consolidation*"))
        conn.close()
        assert not (ws.current / "adapter_config.json").exists()

        rows_file(ws.inbox / "d.jsonl", 4, 3)
        drive(d, lambda: len(states(ws)) == 4 and states(ws)[-1] == "done")
    finally:
        d.close()
    run = q(ws, "SELECT dir FROM runs ORDER BY started_at DESC LIMIT 1")[0]
    meta = json.loads((Path(run["dir"]) / "meta.json").read_text())
    assert Path(meta["base_model"]).resolve() == merged  # training started from the merged base
    lin = q(ws, "SELECT base_path, end_reason FROM lineages ORDER BY id")
    assert Path(lin[-1]["base_path"]).resolve() == merged and "consolidated" in lin[0]["end_reason"]
    state = json.loads((ws.current / "mentor_state.json").read_text())
    assert Path(state["base"]).resolve() == merged and state["global_step"] == 2


def test_pause_resume_and_child_kill9(workspace: Workspace) -> None:
    from mentor import control
    from mentor.daemon.service import Daemon

    ws = workspace
    d = Daemon(ws, overrides=OVR, watch=False)
    d.start()
    try:
        rows_file(ws.inbox / "a.jsonl", 40, 1)
        drive(d, lambda: len(ledger_rows(ws)) >= 4)
        control.request(ws, "pause")
        drive(d, lambda: states(ws) == ["paused"])
        job = q(ws, "SELECT rows_done, rows_total FROM jobs")[0]
        assert 4 <= job["rows_done"] < job["rows_total"]  # paused mid-file, not marked completed
        control.request(ws, "resume")
        drive(d, lambda: len(ledger_rows(ws)) >= job["rows_done"] + 6)
        os.kill(d.child.proc.pid, signal.SIGKILL)  # crash the training child mid-file
        drive(d, lambda: states(ws) == ["done"])
        assert q(ws, "SELECT attempts FROM jobs")[0]["attempts"] == 1
    finally:
        d.close()
    rows = ledger_rows(ws)
    assert sorted(rows) == list(range(40))  # every row trained exactly once


def _daemon_proc(ws: Workspace) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "mentor", "--home", str(ws.home), "daemon"]
    for o in OVR:
        cmd += ["--set", o]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(ws.logs / "d.err", "ab"))


def _wait(cond, timeout: float = 180.0) -> None:
    t0 = time.time()
    while not cond():
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.1)


def _step_seconds(ws: Workspace) -> float:
    ts = sorted({r[0] for r in q(ws, "SELECT ts FROM ledger")})
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    return sorted(gaps)[len(gaps) // 2] if gaps else 0.0


def test_stop_sigterm_latency_and_daemon_kill9(workspace: Workspace) -> None:
    ws = workspace
    rows_file(ws.inbox / "a.jsonl", 60, 1)
    p = _daemon_proc(ws)
    try:
        _wait(lambda: len(ledger_rows(ws)) >= 2)
        t0 = time.monotonic()
        r = subprocess.run(
            [sys.executable, "-m", "mentor", "--home", str(ws.home), "stop"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        p.wait(120)
        stop_latency = time.monotonic() - t0
        assert r.returncode == 0, r.stderr
        assert states(ws) == ["queued"]  # stopped: queued with its row, resumes next start

        p = _daemon_proc(ws)
        n = len(ledger_rows(ws))
        _wait(lambda: len(ledger_rows(ws)) >= n + 2)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.wait(120)
        term_latency = time.monotonic() - t0

        p = _daemon_proc(ws)
        n = len(ledger_rows(ws))
        _wait(lambda: len(ledger_rows(ws)) >= n + 2)
        child = int(q(ws, "SELECT value FROM kv WHERE key = 'daemon.child_pid'")[0][0])
        p.kill()  # kill -9 the daemon: the child checkpoints and stops by itself
        p.wait(10)
        from mentor.monitor.processes import pid_alive

        _wait(lambda: not pid_alive(child), 120)
        p = _daemon_proc(ws)  # stale lock taken over; resumes the job
        _wait(lambda: states(ws) == ["done"], 300)
        step = _step_seconds(ws)
        subprocess.run(
            [sys.executable, "-m", "mentor", "--home", str(ws.home), "stop"], timeout=120
        )
        p.wait(60)
    finally:
        if p.poll() is None:
            p.kill()
    print(
        f"\nstop latency {stop_latency:.2f}s, SIGTERM latency {term_latency:.2f}s, "
        f"median step {step:.2f}s, file of 60 rows = 30 steps"
    )
    rows = ledger_rows(ws)
    assert sorted(rows) == list(range(60))
    # the child's checkpoint and exit, not the rest of the file (30 steps)
    assert stop_latency < 15 * step + 10 and term_latency < 15 * step + 10
    kinds = {r[0] for r in q(ws, "SELECT kind FROM events")}
    assert {"daemon.stale_lock", "job_stopped", "job_finished"} <= kinds
