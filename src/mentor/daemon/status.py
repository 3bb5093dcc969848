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
from mentor.monitor.status import StatusWriter, read_status
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
PAUSABLE = ("training", "evaluating", "consolidating")


class Board:
    """Writes the daemon's state: kv ``daemon.state`` and the status snapshot, together."""

    def __init__(self, ws: Workspace, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.status = StatusWriter(ws)

    @property
    def state(self) -> str | None:
        return kv.get(self.conn, Key.DAEMON_STATE)

    def set(self, state: str, **fields: Any) -> None:
        """A new state is written at once; the same state only merges ``fields``."""
        if self.state != state:
            kv.put(self.conn, Key.DAEMON_STATE, state)
            self.status.update(status=state, **fields)
            self.status.flush()
        elif fields:
            self.status.update(**fields)

    def update(self, **fields: Any) -> None:
        self.status.update(**fields)

    def alert(self, message: str) -> None:
        self.status.alert(message)

    def clear_alerts(self, prefix: str) -> None:
        kept = [a for a in self.status.state.get("active_alerts") or [] if not a.startswith(prefix)]
        self.status.update(active_alerts=kept)


def shown_state(daemon_state: str | None, running: bool, request: dict[str, Any] | None) -> str:
    """The state to show: the daemon's, or the pending request's effect when it has not acted."""
    if not running:
        return "stopped"
    state = daemon_state or "idle"
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
        active = next((j for j in pending if j.state in ("training", "evaluating", "paused")), None)
        last_eval = next(iter(events.recent(conn, kinds=["eval.finished"], limit=1)), None)
        return {
            "state": shown_state(kv.get(conn, Key.DAEMON_STATE), pid is not None, request),
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
            "eta_s": snap.get("eta_s"),
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
