"""The ``backups`` table: one row per verified backup (the files are ``daemon/backups.py``'s)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from mentor.errors import NotFoundError
from mentor.store.db import dumps, loads


@dataclass(frozen=True)
class BackupRow:
    id: str
    created_at: float
    reason: str
    sources: dict[str, str]  # label -> original path
    path: str
    verified_at: float | None


def _row(r: sqlite3.Row) -> BackupRow:
    return BackupRow(
        r["id"], r["created_at"], r["reason"], loads(r["source"]), r["path"], r["verified_at"]
    )


def insert(
    conn: sqlite3.Connection,
    *,
    bid: str,
    created_at: float,
    reason: str,
    sources: dict[str, Any],
    path: str,
) -> None:
    conn.execute(
        "INSERT INTO backups (id, created_at, reason, source, path) VALUES (?, ?, ?, ?, ?)",
        (bid, created_at, reason, dumps(sources), path),
    )


def get(conn: sqlite3.Connection, bid: str) -> BackupRow:
    """The backup ``bid``, or the only one whose id starts with ``bid``."""
    r = conn.execute("SELECT * FROM backups WHERE id = ?", (bid,)).fetchone()
    if r is None:
        matches = conn.execute("SELECT * FROM backups WHERE id LIKE ?", (f"{bid}%",)).fetchall()
        if len(matches) != 1:
            raise NotFoundError(f"backup {bid!r}: no such backup", hint="see `mentor backup list`")
        r = matches[0]
    return _row(r)


def listing(conn: sqlite3.Connection) -> list[BackupRow]:
    """Every backup, newest first."""
    return [
        _row(r) for r in conn.execute("SELECT * FROM backups ORDER BY created_at DESC, id DESC")
    ]


def mark_verified(conn: sqlite3.Connection, bid: str, at: float | None = None) -> None:
    conn.execute(
        "UPDATE backups SET verified_at = ? WHERE id = ?", (time.time() if at is None else at, bid)
    )


def remove(conn: sqlite3.Connection, bid: str) -> None:
    conn.execute("DELETE FROM backups WHERE id = ?", (bid,))
