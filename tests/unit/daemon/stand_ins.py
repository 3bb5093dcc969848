"""Fast stand-ins for what the daemon's children call, and helpers for the daemon tests.

The real child process (``python -m mentor.daemon.child``) loads these by file path through
``Launcher(functions=...)``, so the daemon's loop, control channel, state machine and recovery
run for real while training and evaluation take milliseconds:

- ``fake_train_file`` keeps a per-file position in ``model/current/mentor_state.json``, writes a
  ledger row per trained row, checks control after every "step" and checkpoints on
  pause/stop/skip (``FAKE_STEP_S`` seconds per row);
- ``after_training`` and ``full_suite`` "generate" for ``FAKE_EVAL_S`` / ``FAKE_FULL_S``
  seconds, polling the interrupt the child passes as the engine does after each decode step;
  every start, end and cut is a line in ``logs/stand_in_evals.jsonl``.

Real training and evaluation are in tests/integration/test_daemon_*.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from mentor.engine.base import GenerationInterrupted
from mentor.paths import Workspace

HERE = Path(__file__).resolve()
ROW = {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
OVR = [
    "daemon.settle_seconds=0.3",
    "daemon.backoff_seconds=0",
    "daemon.min_free_gib=0",
    "daemon.poll_seconds=0.1",
    "daemon.snapshot_at=null",
    "eval.full_when_idle=false",
]
FUNCTIONS = {
    "train": f"{HERE}:fake_train_file",
    "evaluate": f"{HERE}:after_training",
    "evaluate-full": f"{HERE}:full_suite",
}


# ---------------------------------------------------------------------------- stand-ins
def fake_train_file(
    ws: Workspace, cfg: Any, path: Path, *, job_id=None, control=None, progress=None, status=None
) -> dict[str, Any]:
    from mentor.store import connect

    delay = float(os.environ.get("FAKE_STEP_S", "0.05"))
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    h = hashlib.sha256(path.read_bytes()).hexdigest()
    ws.current.mkdir(parents=True, exist_ok=True)
    sf = ws.current / "mentor_state.json"
    st = (
        json.loads(sf.read_text())
        if sf.exists()
        else {"lineage_id": 1, "global_step": 0, "files": {}}
    )
    entry = st["files"].setdefault(h, {"name": path.name, "next_row": 0, "status": "in_progress"})
    conn = connect(ws.db)

    def ckpt() -> None:
        (ws.current / "adapter_config.json").write_text("{}")
        (ws.current / "adapter_model.safetensors").write_bytes(
            b"w" * 64 + str(st["global_step"]).encode()
        )
        tmp = sf.with_suffix(".tmp")
        tmp.write_text(json.dumps(st))
        os.replace(tmp, sf)

    outcome = "completed"
    trained = 0
    # FAKE_REQUEST_AT_ROW="N:action": a user's request arrives while row N is trained
    at_row, _, asked = os.environ.get("FAKE_REQUEST_AT_ROW", "").partition(":")
    while entry["next_row"] < len(rows):
        act = control() if control else None
        if act:
            outcome = {"pause": "paused", "stop": "stopped", "skip": "skipped"}[act]
            break
        if at_row and entry["next_row"] + 1 == int(at_row):
            from mentor import control as control_channel

            control_channel.request(ws, asked, "stand-in request")
        time.sleep(delay)
        if os.environ.get("FAKE_DISK_FULL_AT_ROW") == str(entry["next_row"]):
            # the checkpoint write of this row finds the disk full (the last one stands)
            raise OSError(28, "No space left on device", str(ws.current / "optimizer.pt"))
        conn.execute(
            "INSERT INTO ledger (lineage_id, file_hash, row_index, step, ts) VALUES (1, ?, ?, ?, ?)",
            (h, entry["next_row"], st["global_step"] + 1, time.time()),
        )
        entry["next_row"] += 1
        st["global_step"] += 1
        trained += 1
        ckpt()
        if progress:
            progress(
                {
                    "step": st["global_step"],
                    "loss": 1.0 / st["global_step"],
                    "file_step": entry["next_row"],
                    "file_steps": len(rows),
                    "lr": 1e-4,
                    "tokens_per_s": 100.0,
                    "next_row": entry["next_row"],
                    "rows_total": len(rows),
                }
            )
    if outcome == "completed" and control:  # the real trainer also polls after its last step
        act = control()
        if act:
            outcome = {"pause": "paused", "stop": "stopped", "skip": "skipped"}[act]
    entry["status"] = {"completed": "completed", "skipped": "skipped"}.get(outcome, "in_progress")
    ckpt()
    conn.close()
    return {
        "status": outcome,
        "run_id": None,
        "file_hash": h,
        "rows_total": len(rows),
        "rows_trained": trained,
        "next_row": entry["next_row"],
        "global_step": st["global_step"],
        "tokens": trained * 10,
        "metrics": {"loss": 0.5},
        "message": outcome,
    }


def _generate(
    ws: Workspace,
    what: str,
    version: str,
    seconds: float,
    interrupt: Any,
    progress: Any = None,
    **started: Any,
) -> None:
    """Poll ``interrupt`` as the engine does after each decode step, for ``seconds``; report
    ``FAKE_EVAL_ITEMS`` items done evenly over that time to ``progress`` as the runner does."""
    note(ws, what=what, version=version, event="started", **started)
    items = int(os.environ.get("FAKE_EVAL_ITEMS", "10"))
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if interrupt is not None and interrupt():
            note(ws, what=what, version=version, event="cut")
            raise GenerationInterrupted(f"{what} cut")
        time.sleep(0.02)
        if progress is not None:
            progress("stand-in", min(items, int(items * (time.monotonic() - t0) / seconds)), items)
    note(ws, what=what, version=version, event="done")


def after_training(ws, cfg, *, path, version, job_id=None, interrupt=None):
    """For ``evaluate_version``: always promotes; its progress goes where the real one's does."""
    from mentor.daemon.child import EvalProgress

    items = int(os.environ.get("FAKE_EVAL_ITEMS", "10"))
    progress = EvalProgress(ws, "quick", version, {"stand-in": items}, Path(path).name)
    seconds = float(os.environ.get("FAKE_EVAL_S", "0"))
    per_tier = cfg.eval.quick_per_tier  # what the daemon sized it to
    _generate(ws, "after_training", version, seconds, interrupt, progress, per_tier=per_tier)
    return {
        **progress.close(),
        "status": "evaluated",
        "metrics": {"heldout.solved": 1.0},
        "promote": True,
        "reason": "stand-in: not worse",
    }


def full_suite(ws, cfg, *, version, interrupt=None):
    """For ``evaluate_full_suite``."""
    _generate(ws, "full_suite", version, float(os.environ.get("FAKE_FULL_S", "0")), interrupt)
    return {"status": "evaluated", "version": version, "metrics": {"solved": 0.5}}


def note(ws: Workspace, **fields: Any) -> None:
    with open(ws.logs / "stand_in_evals.jsonl", "a") as f:
        f.write(json.dumps({**fields, "ts": time.time()}) + "\n")


# ---------------------------------------------------------------------------- helpers
def evals_log(ws: Workspace) -> list[dict[str, Any]]:
    """What the stand-in evaluations did, in order."""
    p = ws.logs / "stand_in_evals.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def make_daemon(ws: Workspace, *, clock=time.time, extra: list[str] | None = None, **functions):
    """A daemon whose children run the stand-ins (``functions`` overrides some of them)."""
    from mentor.daemon.launcher import Launcher
    from mentor.daemon.service import Daemon

    ovr = OVR + (extra or [])
    launcher = Launcher(ws, ovr, functions={**FUNCTIONS, **functions})
    return Daemon(ws, overrides=ovr, clock=clock, watch=False, launcher=launcher)


def drive(d, until, timeout: float = 60.0) -> None:
    """Run passes of the daemon until ``until()`` holds."""
    t0 = time.time()
    while not until():
        d.run_once(d.clock())
        if time.time() - t0 > timeout:
            raise AssertionError("timed out")
        time.sleep(0.05)


def write_rows(path: Path, n: int, tag: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for i in range(n):
            row = json.loads(json.dumps(ROW))
            row["messages"][0]["content"] = f"{tag} question {i}?"
            f.write(json.dumps(row) + "\n")
    return path


def jobs(ws: Workspace) -> list[sqlite3.Row]:
    c = sqlite3.connect(ws.db)
    c.row_factory = sqlite3.Row
    rows = c.execute("SELECT * FROM jobs ORDER BY id").fetchall()
    c.close()
    return rows


def ledger(ws: Workspace) -> list[tuple[str, int]]:
    c = sqlite3.connect(ws.db)
    rows = c.execute("SELECT file_hash, row_index FROM ledger").fetchall()
    c.close()
    return rows


def kinds(ws: Workspace) -> list[str]:
    """Event kinds, oldest first."""
    c = sqlite3.connect(ws.db)
    rows = [r[0] for r in c.execute("SELECT kind FROM events ORDER BY id")]
    c.close()
    return rows
