"""The daemon's state as others see it: what the daemon writes (:class:`Board`) and what
``mentor status`` reads (:func:`status_object`).

The daemon keeps its state in kv ``daemon.state`` (the CLI and the API read it) and in the
status snapshot (scripts and the dashboard). A request on the control channel shows at once,
before the daemon acts on it: a pending pause turns ``training``/``evaluating`` into
``pausing``, a pending stop any running state into ``stopping``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from mentor import control
from mentor.daemon.lock import lock_holder
from mentor.monitor.status import StatusWriter, eta_seconds, read_status
from mentor.paths import Workspace
from mentor.store import connect, events, jobs, kv
from mentor.store.kv import Key

#: the daemon's state while a child of each mode runs
BUSY = {
    "train": "training",
    "evaluate": "evaluating",
    "evaluate-full": "evaluating",
    "consolidate": "consolidating",
}
PAUSABLE = ("training", "evaluating", "consolidating", "validating")
#: job states that are the daemon's state while it works on that job (the queue's own word)
JOB_BUSY = ("validating", "training", "evaluating")
#: daemon states a busy job's state replaces (the others: paused, blocked, stopping... stay)
PLAIN = ("idle", "validating", "training", "evaluating")


class Board:
    """Writes the daemon's state: kv ``daemon.state`` and the status snapshot, together."""

    def __init__(self, ws: Workspace, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.status = StatusWriter(ws)

    @property
    def state(self) -> str | None:
        return kv.get(self.conn, Key.DAEMON_STATE)

    def _write(self, **fields: Any) -> None:
        """Merge ``fields`` into the file as it is now and write it at once: a child writes
        its progress into the same file, so the daemon never writes back a stale copy. Fields
        that already hold these values write nothing."""
        self.status.state = read_status(self.status.ws)
        if all(self.status.state.get(k) == v for k, v in fields.items()):
            return
        self.status.update(**fields)
        self.status.flush()

    def set(self, state: str, **fields: Any) -> None:
        """A new state is written at once; the same state only merges ``fields``."""
        if self.state != state:
            kv.put(self.conn, Key.DAEMON_STATE, state)
            self._write(status=state, **fields)
        elif fields:
            self._write(**fields)

    def update(self, **fields: Any) -> None:
        self._write(**fields)

    def alert(self, message: str) -> None:
        alerts = list(read_status(self.status.ws).get("active_alerts") or [])
        if message not in alerts:
            self._write(active_alerts=[*alerts, message])

    def clear_alerts(self, prefix: str) -> None:
        alerts = read_status(self.status.ws).get("active_alerts") or []
        self._write(active_alerts=[a for a in alerts if not a.startswith(prefix)])


def shown_state(
    daemon_state: str | None,
    running: bool,
    request: dict[str, Any] | None,
    job_state: str | None = None,
) -> str:
    """The state to show: the daemon's, or the pending request's effect when it has not acted.

    A job that is validating, training or evaluating names the state (the same row ``queue
    list`` shows), so the two never disagree; a paused, blocked or stopping daemon says so.
    """
    if not running:
        return "stopped"
    state = daemon_state or "idle"
    if job_state in JOB_BUSY and state in PLAIN:
        state = job_state
    action = request.get("action") if request else None
    if action == "stop":
        return "stopping"
    if action == "pause" and state in PAUSABLE:
        return "pausing"
    return state


def status_object(ws: Workspace) -> dict[str, Any]:
    """Everything ``mentor status`` shows, as one JSON-ready object."""
    snap = read_status(ws)
    request = control.read(ws)
    conn = connect(ws.db)
    try:
        pid = lock_holder(ws)
        pending = jobs.pending(conn)
        active = next(
            (j for j in pending if j.state in (*JOB_BUSY, "paused")),
            None,
        )
        last_eval = next(iter(events.recent(conn, kinds=["eval.finished"], limit=1)), None)
        return {
            "state": shown_state(
                kv.get(conn, Key.DAEMON_STATE),
                pid is not None,
                request,
                active.state if active else None,
            ),
            "pid": pid,
            "request": request,
            "job": active.to_dict() if active else None,
            "file": active.name if active else snap.get("current_file"),
            "step": snap.get("batch_step"),
            "total": snap.get("batch_total_steps"),
            "global_step": snap.get("current_step"),
            "loss": snap.get("loss"),
            "validation_loss": snap.get("validation_loss"),
            "tokens_per_sec": snap.get("tokens_per_sec"),
            "eta_s": eta_seconds(snap),
            "evaluation": snap.get("evaluation"),
            "queue": [j.to_dict() for j in pending if j is not active],
            "counts": jobs.counts(conn),
            "serving_version": kv.get(conn, Key.SERVING_VERSION),
            "base_model": kv.get(conn, Key.BASE_MODEL),
            "last_eval": (
                {
                    "ts": last_eval.ts,
                    "version": last_eval.version,
                    "message": last_eval.message,
                    "metrics": last_eval.data.get("metrics"),
                }
                if last_eval
                else None
            ),
            "gpu": _gpus(),
            "alerts": snap.get("active_alerts") or [],
            "error_message": snap.get("error_message"),
            "snapshot": snap,
        }
    finally:
        conn.close()


def _gpus() -> list[dict[str, Any]]:
    try:
        from mentor.monitor.system import gpus

        return list(gpus())
    except Exception:  # no NVML, no driver: status still answers
        return []
