"""Requests to the daemon from another process (the CLI): pause, resume, skip, stop, and the
refusal of destructive commands while it trains.

A request goes through the control channel (:mod:`mentor.control`); when no daemon runs, what
can be done without it is done here (``resume`` puts paused jobs back in the queue; a pause is
kept and the next daemon starts paused).
"""

from __future__ import annotations

import time

from mentor import control
from mentor.daemon.lock import lock_holder
from mentor.daemon.queue import resume_paused
from mentor.errors import JobError
from mentor.monitor.processes import pid_alive
from mentor.paths import Workspace
from mentor.store import connect, kv
from mentor.store.kv import Key

#: daemon states in which restoring a version or a backup is refused
BUSY_STATES = ("training", "evaluating", "consolidating", "pausing", "stopping")


def running(ws: Workspace) -> int | None:
    """The pid of this workspace's daemon, None when none runs."""
    return lock_holder(ws)


def pause(ws: Workspace) -> bool:
    """Ask for a pause; True when a daemon runs (otherwise the next one starts paused)."""
    control.request(ws, "pause")
    return running(ws) is not None


def resume(ws: Workspace) -> bool:
    """Resume; without a daemon the paused jobs go back to the queue now. True: a daemon runs."""
    if running(ws) is not None:
        control.request(ws, "resume")
        return True
    control.clear(ws)
    conn = connect(ws.db)
    try:
        resume_paused(conn)
    finally:
        conn.close()
    return False


def skip(ws: Workspace, reason: str | None = None) -> bool:
    """Ask to skip the file in training (its remaining rows are recorded)."""
    control.request(ws, "skip", reason)
    return running(ws) is not None


def stop(ws: Workspace, *, wait: bool = True, timeout: float = 300.0) -> float | None:
    """Ask the daemon to stop; with ``wait``, until it exited. Seconds waited; None: none runs."""
    pid = running(ws)
    if pid is None:
        return None
    t0 = time.monotonic()
    control.request(ws, "stop", "mentor stop")
    if not wait:
        return 0.0
    while pid_alive(pid) and time.monotonic() - t0 < timeout:
        time.sleep(0.1)
    if pid_alive(pid):
        raise JobError(
            f"the daemon (pid {pid}) did not stop within {timeout:.0f}s",
            hint="see logs/ for the child; `mentor stop --timeout N` waits longer",
        )
    return time.monotonic() - t0


def refuse_if_busy(ws: Workspace) -> None:
    """A restore replaces the live lineage: refused while the daemon works on it."""
    if running(ws) is None:
        return
    conn = connect(ws.db)
    try:
        st = kv.get(conn, Key.DAEMON_STATE)
    finally:
        conn.close()
    if st in BUSY_STATES:
        raise JobError(f"the daemon is {st}", hint="`mentor pause` first")
