"""The events table: what happened, for reports and the dashboard (nothing parses log text)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from mentor.store.db import dumps, loads


@dataclass(frozen=True)
class Event:
    id: int
    ts: float
    kind: str
    level: str
    job_id: int | None
    version: str | None
    message: str
    data: dict[str, Any]


def emit(
    conn: sqlite3.Connection,
    kind: str,
    message: str = "",
    *,
    level: str = "info",
    job_id: int | None = None,
    version: str | None = None,
    ts: float | None = None,
    **data: Any,
) -> int:
    cur = conn.execute(
        "INSERT INTO events (ts, kind, level, job_id, version, message, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ts if ts is not None else time.time(), kind, level, job_id, version, message, dumps(data)),
    )
    return int(cur.lastrowid or 0)


def recent(
    conn: sqlite3.Connection,
    *,
    kinds: list[str] | None = None,
    since: float | None = None,
    version: str | None = None,
    limit: int = 100,
) -> list[Event]:
    """Newest first; ``kinds``, ``since`` and ``version`` narrow the list."""
    sql = "SELECT * FROM events"
    where: list[str] = []
    args: list[Any] = []
    if kinds:
        where.append(f"kind IN ({','.join('?' * len(kinds))})")
        args += kinds
    if version is not None:
        where.append("version = ?")
        args.append(version)
    if since is not None:
        where.append("ts >= ?")
        args.append(since)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    return [
        Event(
            r["id"],
            r["ts"],
            r["kind"],
            r["level"],
            r["job_id"],
            r["version"],
            r["message"],
            loads(r["data"]),
        )
        for r in conn.execute(sql, args)
    ]
