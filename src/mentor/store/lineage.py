"""The ``lineages`` table and the row ledger (``ledger``): which rows each lineage trained, when.

A lineage is one adapter (or model) trained file after file with one optimizer and one LR
schedule; consolidation ends it. The ledger holds one entry per trained row with the optimizer
step that trained it, written once a checkpoint holds that step (``train.lineage``); entries of
steps the saved checkpoint does not hold (a restored older one) are dropped on the next start
(:func:`drop_after`), so the ledger always agrees with the saved weights.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable


def create(conn: sqlite3.Connection, base_path: str) -> int:
    cur = conn.execute(
        "INSERT INTO lineages (base_path, created_at) VALUES (?, ?)", (base_path, time.time())
    )
    return int(cur.lastrowid or 0)


def end(conn: sqlite3.Connection, lineage_id: int | None, reason: str) -> None:
    conn.execute(
        "UPDATE lineages SET ended_at = ?, end_reason = ? WHERE id = ?",
        (time.time(), reason, lineage_id),
    )


def record(
    conn: sqlite3.Connection,
    lineage_id: int,
    file_hash: str,
    rows: Iterable[int],
    step: int,
    run_id: str,
) -> None:
    """Rows trained by optimizer step ``step``."""
    now = time.time()
    conn.executemany(
        "INSERT INTO ledger (lineage_id, file_hash, row_index, step, run_id, ts)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(lineage_id, file_hash, int(r), step, run_id, now) for r in rows],
    )


def drop_after(conn: sqlite3.Connection, lineage_id: int, step: int) -> int:
    """Forget entries of updates that no checkpoint kept (they will be trained again)."""
    cur = conn.execute("DELETE FROM ledger WHERE lineage_id = ? AND step > ?", (lineage_id, step))
    return cur.rowcount


def rows(conn: sqlite3.Connection, lineage_id: int, file_hash: str) -> list[int]:
    """The file's trained rows in the order they were trained."""
    return [
        int(r[0])
        for r in conn.execute(
            "SELECT row_index FROM ledger WHERE lineage_id = ? AND file_hash = ? ORDER BY id",
            (lineage_id, file_hash),
        )
    ]


def last_step(conn: sqlite3.Connection, lineage_id: int) -> int:
    """The highest optimizer step the ledger holds for the lineage (0 when none)."""
    r = conn.execute("SELECT MAX(step) FROM ledger WHERE lineage_id = ?", (lineage_id,)).fetchone()
    return int(r[0] or 0)


def file_rows(conn: sqlite3.Connection, file_hash: str) -> list[tuple[int, int]]:
    """Every ``(lineage_id, row)`` entry of a file, over all lineages, in the order written."""
    return [
        (int(r[0]), int(r[1]))
        for r in conn.execute(
            "SELECT lineage_id, row_index FROM ledger WHERE file_hash = ? ORDER BY id",
            (file_hash,),
        )
    ]
