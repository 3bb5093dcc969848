"""``state.db`` for the dashboard: queries on a read-only connection, empty until it exists."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from mentor.paths import Workspace
from mentor.store import connect_readonly

log = logging.getLogger(__name__)

R = TypeVar("R")


def rows(ws: Workspace, query: Callable[[sqlite3.Connection], list[R]]) -> list[R]:
    """``query`` on a read-only connection to state.db; no rows while there is no state.db
    or it is not migrated yet (a missing table reads as empty, never as a server error)."""
    conn = connect_readonly(ws.db)
    if conn is None:
        return []
    try:
        return query(conn)
    except sqlite3.OperationalError as err:
        if "no such table" not in str(err):
            raise
        log.warning("state.db is not migrated yet (%s)", err)
        return []
    finally:
        conn.close()
