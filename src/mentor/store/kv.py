"""The ``kv`` table: small named facts shared by the daemon, training, the API and the CLI.

Every key is a member of :class:`Key`, so a name is spelled once and a reader can list what
the table may hold. Values are text; ``put(conn, key, None)`` removes the key.
"""

from __future__ import annotations

import sqlite3
from enum import StrEnum


class Key(StrEnum):
    SERVING_VERSION = "serving_version"  # the version the API serves (vNNN)
    BASE_MODEL = "base_model"  # model.path after a consolidation or restore (relative to home)
    BASE_VERSION = "base_version"  # the base version that model.path points into
    DAEMON_STATE = "daemon.state"  # idle | training | evaluating | paused | ... | stopped
    CHILD_PID = "daemon.child_pid"  # the daemon's running child process
    CONSOLIDATE_REQUEST = "daemon.consolidate_request"  # set by `mentor consolidate`
    LAST_SNAPSHOT_DAY = "daemon.last_snapshot_day"
    LAST_CONSOLIDATION_DAY = "daemon.last_consolidation_day"
    LAST_CONSOLIDATION = "daemon.last_consolidation"  # unix time of the last consolidation
    TRAIN_TOKENS_PER_S = "train.tokens_per_s"  # the last training's throughput (time estimates)


def get(conn: sqlite3.Connection, key: Key) -> str | None:
    r = conn.execute("SELECT value FROM kv WHERE key = ?", (str(key),)).fetchone()
    return None if r is None or r[0] is None else str(r[0])


def put(conn: sqlite3.Connection, key: Key, value: str | None) -> None:
    """Set ``key`` to ``value`` (``None`` removes it)."""
    if value is None:
        conn.execute("DELETE FROM kv WHERE key = ?", (str(key),))
        return
    conn.execute(
        "INSERT INTO kv (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (str(key), value),
    )


def get_float(conn: sqlite3.Connection, key: Key) -> float | None:
    raw = get(conn, key)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None
