"""The ``runs`` table: one row per training run (a run folder ``runs/<id>/``).

A run is ``running`` from its start until it ends ``completed | paused | stopped | skipped |
failed``; a run whose process died is found by :func:`running` and closed as ``killed`` by the
next start (``train/run_folder.reconcile``).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from mentor.store.db import dumps, loads


@dataclass(frozen=True)
class Run:
    id: str
    job_id: int | None
    kind: str
    status: str
    dir: str
    started_at: float
    finished_at: float | None
    summary: dict[str, Any]


def _row(r: sqlite3.Row) -> Run:
    return Run(
        r["id"],
        r["job_id"],
        r["kind"],
        r["status"],
        r["dir"],
        r["started_at"],
        r["finished_at"],
        loads(r["summary"]),
    )


def start(
    conn: sqlite3.Connection, run_id: str, *, job_id: int | None, dir: str, started_at: float
) -> None:
    conn.execute(
        "INSERT INTO runs (id, job_id, kind, status, dir, started_at)"
        " VALUES (?, ?, 'train', 'running', ?, ?)",
        (run_id, job_id, dir, started_at),
    )


def finish(
    conn: sqlite3.Connection,
    run_id: str,
    status: str,
    summary: dict[str, Any],
    *,
    at: float | None = None,
) -> None:
    conn.execute(
        "UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE id = ?",
        (status, time.time() if at is None else at, dumps(summary), run_id),
    )


def checkpointed(conn: sqlite3.Connection, run_id: str, step: int) -> None:
    """A running run's last checkpointed optimizer step (``summary.checkpoint_step``): the
    steps after it are lost if the run dies."""
    r = conn.execute("SELECT summary FROM runs WHERE id = ?", (run_id,)).fetchone()
    summary = loads(r["summary"]) if r else {}
    summary["checkpoint_step"] = int(step)
    conn.execute("UPDATE runs SET summary = ? WHERE id = ?", (dumps(summary), run_id))


def get(conn: sqlite3.Connection, run_id: str) -> Run | None:
    r = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    return _row(r) if r else None


def running(conn: sqlite3.Connection) -> list[Run]:
    return [
        _row(r)
        for r in conn.execute("SELECT * FROM runs WHERE status = 'running' ORDER BY started_at")
    ]


def listing(conn: sqlite3.Connection, *, job_id: int | None = None) -> list[Run]:
    """Runs oldest first (of one job, when given)."""
    if job_id is None:
        rows = conn.execute("SELECT * FROM runs ORDER BY started_at, id")
    else:
        rows = conn.execute(
            "SELECT * FROM runs WHERE job_id = ? ORDER BY started_at, id", (job_id,)
        )
    return [_row(r) for r in rows]


def finished_between(conn: sqlite3.Connection, since: float, until: float) -> list[Run]:
    """Runs that ended in ``[since, until)``, oldest first."""
    return [
        _row(r)
        for r in conn.execute(
            "SELECT * FROM runs WHERE finished_at >= ? AND finished_at < ? ORDER BY finished_at",
            (since, until),
        )
    ]
