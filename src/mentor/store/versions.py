"""The ``versions`` table: one row per immutable version ``vNNN_<YYYYmmdd-HHMMSS>_<description>``.

The directories themselves (files, manifests, restore, delete) are ``daemon/versions.py``'s;
this module holds the rows: status (candidate | serving | refused | retired | deleted), parent,
lineage and the evaluation metrics that land after the version was made.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from mentor.errors import NotFoundError
from mentor.store.db import dumps, loads

NAME_RE = re.compile(r"^v(\d{3,})(?:_|$)")


@dataclass(frozen=True)
class Version:
    name: str
    created_at: float
    parent: str | None
    lineage_id: int | None
    kind: str
    status: str
    description: str
    metrics: dict[str, Any]

    @property
    def short(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def number(self) -> int:
        m = NAME_RE.match(self.name)
        return int(m.group(1)) if m else 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, short=self.short)


def _row(r: sqlite3.Row) -> Version:
    return Version(
        r["name"],
        r["created_at"],
        r["parent"],
        r["lineage_id"],
        r["kind"],
        r["status"],
        r["description"],
        loads(r["metrics"]),
    )


def insert(
    conn: sqlite3.Connection,
    *,
    name: str,
    created_at: float,
    parent: str | None,
    lineage_id: int | None,
    kind: str,
    description: str,
    metrics: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO versions (name, created_at, parent, lineage_id, kind, status, description,"
        " metrics) VALUES (?, ?, ?, ?, ?, 'candidate', ?, ?)",
        (name, created_at, parent, lineage_id, kind, description, dumps(metrics or {})),
    )


def next_number(conn: sqlite3.Connection) -> int:
    """One more than the highest vNNN ever made (deleted ones included: numbers are not reused)."""
    top = 0
    for (name,) in conn.execute("SELECT name FROM versions"):
        m = NAME_RE.match(name)
        if m:
            top = max(top, int(m.group(1)))
    return top + 1


def resolve(conn: sqlite3.Connection, ref: str, *, include_deleted: bool = False) -> Version:
    """``v3``, ``v003``, ``3`` or the full directory name -> the version."""
    ref = ref.strip().rstrip("/").split("/")[-1]
    m = re.match(r"^v?(\d+)$", ref)
    found = None
    for r in conn.execute("SELECT * FROM versions ORDER BY created_at"):
        vm = NAME_RE.match(r["name"])
        if r["name"] == ref or (m and vm and int(vm.group(1)) == int(m.group(1))):
            found = _row(r)
    if found is None or (found.status == "deleted" and not include_deleted):
        raise NotFoundError(f"version {ref!r}: no such version", hint="see `mentor versions list`")
    return found


def listing(conn: sqlite3.Connection, *, include_deleted: bool = False) -> list[Version]:
    """Every version, oldest (lowest number) first."""
    sql = "SELECT * FROM versions"
    if not include_deleted:
        sql += " WHERE status != 'deleted'"
    return sorted((_row(r) for r in conn.execute(sql)), key=lambda v: v.number)


def latest(conn: sqlite3.Connection) -> Version | None:
    items = listing(conn)
    return items[-1] if items else None


def deleted(conn: sqlite3.Connection) -> list[Version]:
    return [_row(r) for r in conn.execute("SELECT * FROM versions WHERE status = 'deleted'")]


def set_metrics(
    conn: sqlite3.Connection, ref: str, metrics: dict[str, Any], status: str | None = None
) -> Version:
    """Merge ``metrics`` into the version's metrics (and set its status, when given)."""
    v = resolve(conn, ref, include_deleted=status == "deleted")
    merged = dict(v.metrics, **metrics)
    conn.execute(
        "UPDATE versions SET metrics = ?, status = COALESCE(?, status) WHERE name = ?",
        (dumps(merged), status, v.name),
    )
    return resolve(conn, v.name, include_deleted=True)


def parent(conn: sqlite3.Connection, name: str) -> str | None:
    r = conn.execute("SELECT parent FROM versions WHERE name = ?", (name,)).fetchone()
    return r["parent"] if r else None


def is_ancestor(conn: sqlite3.Connection, a: str, b: str) -> bool:
    """Whether version ``a`` is on ``b``'s parent chain."""
    seen = set()
    cur: str | None = b
    while cur and cur not in seen:
        seen.add(cur)
        cur = parent(conn, cur)
        if cur == a:
            return True
    return False
