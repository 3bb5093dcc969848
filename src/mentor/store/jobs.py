"""The ``jobs`` table: the training queue with priorities, states, attempts and backoff.

States: ``validating -> queued -> training -> evaluating -> done``, or ``paused`` (keeps its
position), ``skipped`` (remaining rows recorded), ``failed`` (after ``daemon.max_attempts``), or
``removed`` (by the user). A job interrupted in ``training``/``evaluating`` (stop, SIGTERM, a
crash of the daemon) is resumed first on the next start.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from mentor.errors import ConfigError, JobError, NotFoundError
from mentor.store.db import transaction

PRIORITIES = {"high": 0, "normal": 1, "low": 2}
PRIORITY_NAMES = {v: k for k, v in PRIORITIES.items()}
ACTIVE = ("training", "evaluating")
WAITING = ("queued",)
FINAL = ("done", "skipped", "failed", "removed")
STATES = ("validating", "queued", "training", "evaluating", "paused", *FINAL)


@dataclass(frozen=True)
class Job:
    id: int
    path: str
    name: str
    file_hash: str | None
    priority: int
    state: str
    attempts: int
    not_before: float
    error: str | None
    rows_total: int | None
    rows_done: int
    run_id: str | None
    version: str | None
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None

    @property
    def priority_name(self) -> str:
        return PRIORITY_NAMES.get(self.priority, str(self.priority))

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["priority"] = self.priority_name
        return d


def priority_value(name: str) -> int:
    try:
        return PRIORITIES[name]
    except KeyError:
        raise ConfigError(f"priority {name!r}: expected one of {', '.join(PRIORITIES)}") from None


def _job(r: sqlite3.Row) -> Job:
    return Job(**{k: r[k] for k in r.keys()})  # noqa: SIM118


def get(conn: sqlite3.Connection, job_id: int) -> Job:
    r = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if r is None:
        raise NotFoundError(f"job {job_id}: no such job", hint="see `mentor queue list`")
    return _job(r)


def insert(
    conn: sqlite3.Connection,
    *,
    path: str,
    name: str,
    priority: int = 1,
    state: str = "validating",
    file_hash: str | None = None,
    now: float | None = None,
) -> Job:
    now = time.time() if now is None else now
    cur = conn.execute(
        "INSERT INTO jobs (path, name, file_hash, priority, state, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (path, name, file_hash, priority, state, now, now),
    )
    return get(conn, int(cur.lastrowid or 0))


def update(conn: sqlite3.Connection, job_id: int, **fields: Any) -> Job:
    fields.setdefault("updated_at", time.time())
    cols = ", ".join(f"{k} = ?" for k in fields)
    conn.execute(f"UPDATE jobs SET {cols} WHERE id = ?", (*fields.values(), job_id))
    return get(conn, job_id)


def listing(
    conn: sqlite3.Connection, *, states: tuple[str, ...] | None = None, limit: int = 200
) -> list[Job]:
    sql = "SELECT * FROM jobs"
    args: list[Any] = []
    if states:
        sql += f" WHERE state IN ({','.join('?' * len(states))})"
        args += list(states)
    sql += (
        " ORDER BY CASE state WHEN 'training' THEN 0 WHEN 'evaluating' THEN 0"
        " WHEN 'paused' THEN 1 WHEN 'queued' THEN 2 WHEN 'validating' THEN 3 ELSE 4 END,"
        " priority, id LIMIT ?"
    )
    args.append(limit)
    return [_job(r) for r in conn.execute(sql, args)]


def pending(conn: sqlite3.Connection) -> list[Job]:
    """Jobs still to run, in the order they will run."""
    return listing(conn, states=("training", "evaluating", "paused", "queued", "validating"))


def next_job(conn: sqlite3.Connection, now: float) -> tuple[Job | None, float | None]:
    """The job to run now, else (None, when the next one becomes ready)."""
    interrupted = listing(conn, states=ACTIVE)
    if interrupted:
        # an interrupted job goes first (its position is saved); it may be in backoff
        job = interrupted[0]
        return (job, None) if job.not_before <= now else (None, job.not_before)
    waiting = listing(conn, states=WAITING)
    ready = [j for j in waiting if j.not_before <= now]
    if ready:
        return ready[0], None
    later = min((j.not_before for j in waiting), default=None)
    return None, later


def find_twin(conn: sqlite3.Connection, file_hash: str, exclude_id: int) -> Job | None:
    """Another live job (not failed or removed) with the same file content, the oldest first."""
    r = conn.execute(
        "SELECT * FROM jobs WHERE file_hash = ? AND id != ?"
        " AND state NOT IN ('failed', 'removed') ORDER BY id LIMIT 1",
        (file_hash, exclude_id),
    ).fetchone()
    return _job(r) if r else None


def move(conn: sqlite3.Connection, job_id: int, priority: str) -> Job:
    job = get(conn, job_id)
    if job.state in FINAL:
        raise JobError(f"job {job_id} is {job.state}: only pending jobs can be moved")
    return update(conn, job_id, priority=priority_value(priority))


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        r["state"]: int(r["n"])
        for r in conn.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
    }


def claim(conn: sqlite3.Connection, job_id: int, expect: tuple[str, ...], **fields: Any) -> bool:
    """Move a job to a new state only if it is still in one of ``expect`` (atomically)."""
    with transaction(conn):
        r = conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if r is None or r["state"] not in expect:
            return False
        fields.setdefault("updated_at", time.time())
        cols = ", ".join(f"{k} = ?" for k in fields)
        conn.execute(f"UPDATE jobs SET {cols} WHERE id = ?", (*fields.values(), job_id))
    return True
