"""Idle-time work: what the daemon does when no job is ready.

In order, each pass: the daily snapshot (``daemon.snapshot_at``, a verified backup of the live
lineage, ``mentor.yaml`` and ``state.db``); retention once after each new version (its
evaluation is in by then, so ``keep_best`` sees it); the scheduled or requested consolidation
(a child); and the full benchmark suite of the serving version (``eval.full_when_idle``, a
child, at most once per serving version). Times of day follow the daemon's injected clock.

The full suite yields: the daemon cuts it (SIGTERM, the child stops within a decode step) when
a job becomes ready, a pause is asked for or the daemon stops; a cut suite runs again the next
time the daemon is idle. A suite that fails is not retried for that version (an alert says so).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mentor.config import Config
from mentor.daemon import backups, retention
from mentor.daemon.consolidate import in_progress_files
from mentor.daemon.status import Board
from mentor.paths import Workspace
from mentor.store import events, kv
from mentor.store import versions as version_rows
from mentor.store.kv import Key
from mentor.train.lineage import read_state

log = logging.getLogger(__name__)

#: events that settle the full suite of a version (a cut one does not)
FULL_SUITE_SETTLED = ("full_suite.done", "full_suite.failed")


@dataclass(frozen=True)
class IdleTask:
    """Work for a child: a mode of :mod:`mentor.daemon.child` and its arguments."""

    mode: str
    reason: str | None = None
    version: str | None = None


def hhmm_due(spec: str | None, now: float, last_day: str | None) -> bool:
    """True once a day at/after local HH:MM (``last_day``: the day it last ran)."""
    if not spec:
        return False
    try:
        hh, mm = (int(x) for x in spec.split(":"))
    except ValueError:
        return False
    t = time.localtime(now)
    today = time.strftime("%Y-%m-%d", t)
    return last_day != today and (t.tm_hour, t.tm_min) >= (hh, mm)


class IdleWork:
    """Chooses and records idle-time work; the daemon launches the children it names."""

    def __init__(self, ws: Workspace, conn: sqlite3.Connection, board: Board, cfg: Config) -> None:
        self.ws = ws
        self.conn = conn
        self.board = board
        self.cfg = cfg  # the daemon replaces it when it reloads the config
        self._retained_after: str | None = None

    def next(self, now: float, disk_ok: Callable[[], bool]) -> IdleTask | None:
        """Do the quick work inline; return the child task to start, if any."""
        d = self.cfg.daemon
        today = time.strftime("%Y-%m-%d", time.localtime(now))
        if hhmm_due(d.snapshot_at, now, kv.get(self.conn, Key.LAST_SNAPSHOT_DAY)):
            kv.put(self.conn, Key.LAST_SNAPSHOT_DAY, today)
            self.snapshot()
        self._retention()
        task = self._consolidation(now, today, disk_ok)
        if task is None and (version := self.full_suite_due()) is not None:
            task = IdleTask("evaluate-full", version=version)
        return task

    def snapshot(self) -> backups.Backup:
        return backups.create(
            self.ws,
            self.conn,
            {"current": self.ws.current, "mentor.yaml": self.ws.config_file},
            reason="daily-snapshot",
            include_db=True,
        )

    def _retention(self) -> None:
        newest = version_rows.latest(self.conn)
        if newest is not None and newest.name != self._retained_after:
            retention.apply(self.ws, self.conn, self.cfg)
            self._retained_after = newest.name

    def _consolidation(
        self, now: float, today: str, disk_ok: Callable[[], bool]
    ) -> IdleTask | None:
        requested = kv.get(self.conn, Key.CONSOLIDATE_REQUEST)
        due = hhmm_due(
            self.cfg.daemon.consolidate_at, now, kv.get(self.conn, Key.LAST_CONSOLIDATION_DAY)
        )
        if not (requested or due):
            return None
        kv.put(self.conn, Key.CONSOLIDATE_REQUEST, None)
        kv.put(self.conn, Key.LAST_CONSOLIDATION_DAY, today)
        state = read_state(self.ws)
        if not state or not (self.ws.current / "adapter_config.json").is_file():
            return None  # nothing trained to merge
        if in_progress_files(state):
            events.emit(
                self.conn,
                "consolidation_deferred",
                "consolidation deferred: a file is part-trained",
                level="warning",
            )
            return None
        return (
            IdleTask("consolidate", reason="manual" if requested else "daily")
            if disk_ok()
            else None
        )

    def after_consolidate(self, out: dict[str, Any] | None, rc: int) -> None:
        if out is None or out.get("status") != "consolidated":
            msg = (out or {}).get("message") or f"consolidation process exited with code {rc}"
            events.emit(self.conn, "consolidation_failed", str(msg), level="error")
            self.board.alert(f"consolidation failed: {msg}")

    # ------------------------------------------------------------------ the full suite
    def full_suite_due(self) -> str | None:
        """The serving version when its full suite has not run yet (and the config wants it)."""
        if not self.cfg.eval.full_when_idle:
            return None
        serving = kv.get(self.conn, Key.SERVING_VERSION)
        if not serving:
            return None
        settled = events.recent(self.conn, kinds=list(FULL_SUITE_SETTLED), version=serving, limit=1)
        return None if settled else serving

    def after_full_suite(
        self, version: str, out: dict[str, Any] | None, rc: int, *, cut: bool = False
    ) -> None:
        """Record the suite's end; ``cut``: the daemon cut it (no outcome is then no failure)."""
        self.board.update(evaluation=None)
        status = (out or {}).get("status")
        if status == "interrupted" or (out is None and cut):
            events.emit(
                self.conn,
                "full_suite.cut",
                f"{version}: full suite cut ({(out or {}).get('cut_by') or 'stop'}); it runs again when idle",
                version=version,
            )
            return
        if out is not None and status == "evaluated":
            metrics = out.get("metrics") or {}
            events.emit(
                self.conn,
                "full_suite.done",
                f"{version}: full suite, "
                + ", ".join(f"{k}={v:.3f}" for k, v in metrics.items() if isinstance(v, float)),
                version=version,
                metrics=metrics,
                run_id=out.get("run_id"),
                report=out.get("report"),
            )
            return
        msg = (out or {}).get("message") or f"full-suite process exited with code {rc}"
        events.emit(
            self.conn,
            "full_suite.failed",
            f"{version}: full suite failed: {msg}",
            level="error",
            version=version,
        )
        self.board.alert(f"full suite of {version} failed: {msg}")
