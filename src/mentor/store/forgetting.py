"""The ``forgetting`` table: per version x file, the held-out loss of a lineage's earlier files.

One row per (lineage, version, file): the mean per-row loss of the file's scored held-out rows,
each row's loss (``row_losses``, keyed by item id, so two versions pair row by row), and the
generation metrics and the comparison with the file's reference (``metrics``). The general-text
probe is stored as a file of ``kind='probe'``; its reference is the lineage's untrained base,
stored under the version name :data:`BASE`.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from mentor.store.db import dumps, loads

#: version name of the untrained base's scores (the probe's reference)
BASE = "base"


@dataclass
class ForgetRow:
    lineage_id: int
    version: str
    file_hash: str
    file_name: str
    kind: str  # 'file' | 'probe'
    created_at: float
    n: int
    loss: float | None
    row_losses: dict[str, float]
    metrics: dict[str, Any]

    def to_dict(self, *, rows: bool = False) -> dict[str, Any]:
        d = {
            "lineage_id": self.lineage_id,
            "version": self.version,
            "file_hash": self.file_hash,
            "file_name": self.file_name,
            "kind": self.kind,
            "created_at": self.created_at,
            "n": self.n,
            "loss": self.loss,
            "metrics": self.metrics,
        }
        if rows:
            d["row_losses"] = self.row_losses
        return d


def _row(r: sqlite3.Row) -> ForgetRow:
    return ForgetRow(
        int(r["lineage_id"]),
        str(r["version"]),
        str(r["file_hash"]),
        str(r["file_name"]),
        str(r["kind"]),
        float(r["created_at"]),
        int(r["n"]),
        None if r["loss"] is None else float(r["loss"]),
        {str(k): float(v) for k, v in loads(r["row_losses"]).items()},
        loads(r["metrics"]),
    )


def put(conn: sqlite3.Connection, row: ForgetRow) -> None:
    """Insert or replace the (lineage, version, file) row (a version evaluated again replaces)."""
    conn.execute(
        "INSERT INTO forgetting (lineage_id, version, file_hash, file_name, kind, created_at, n,"
        " loss, row_losses, metrics) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (lineage_id, version, file_hash) DO UPDATE SET file_name = excluded.file_name,"
        " kind = excluded.kind, created_at = excluded.created_at, n = excluded.n,"
        " loss = excluded.loss, row_losses = excluded.row_losses, metrics = excluded.metrics",
        (
            row.lineage_id,
            row.version,
            row.file_hash,
            row.file_name,
            row.kind,
            row.created_at or time.time(),
            row.n,
            row.loss,
            dumps(row.row_losses),
            dumps(row.metrics),
        ),
    )


def reference(
    conn: sqlite3.Connection, lineage_id: int, file_hash: str, *, not_version: str | None = None
) -> ForgetRow | None:
    """The file's first stored row in the lineage (the version that trained it; the base for
    the probe), other than ``not_version``."""
    r = conn.execute(
        "SELECT * FROM forgetting WHERE lineage_id = ? AND file_hash = ? AND version != ?"
        " ORDER BY (version = ?) DESC, id LIMIT 1",
        (lineage_id, file_hash, not_version or "", BASE),
    ).fetchone()
    return _row(r) if r is not None else None


def get(
    conn: sqlite3.Connection, lineage_id: int, version: str, file_hash: str
) -> ForgetRow | None:
    r = conn.execute(
        "SELECT * FROM forgetting WHERE lineage_id = ? AND version = ? AND file_hash = ?",
        (lineage_id, version, file_hash),
    ).fetchone()
    return _row(r) if r is not None else None


def of_version(conn: sqlite3.Connection, version: str) -> list[ForgetRow]:
    return [
        _row(r)
        for r in conn.execute("SELECT * FROM forgetting WHERE version = ? ORDER BY id", (version,))
    ]


def lineage_rows(conn: sqlite3.Connection, lineage_id: int) -> list[ForgetRow]:
    """Every row of a lineage in the order written (the matrix, column by column)."""
    return [
        _row(r)
        for r in conn.execute(
            "SELECT * FROM forgetting WHERE lineage_id = ? ORDER BY id", (lineage_id,)
        )
    ]


def latest_lineage(conn: sqlite3.Connection) -> int | None:
    """The lineage of the most recently written row (None when the table is empty)."""
    try:
        r = conn.execute("SELECT lineage_id FROM forgetting ORDER BY id DESC LIMIT 1").fetchone()
    except sqlite3.OperationalError:  # a read-only reader of a database not yet migrated
        return None
    return int(r[0]) if r is not None else None
