"""Typed access to the ``evals`` and ``eval_items`` tables.

One ``evals`` row per (model, benchmark) evaluation; its items hold every output and score, so
later comparisons pair by item id. ``metrics`` JSON also carries the grouping ``run`` id of a
multi-benchmark evaluation and the generation throughput.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from mentor.store.db import dumps, loads, transaction


@dataclass(frozen=True)
class EvalRow:
    id: int
    created_at: float
    model_ref: str
    model_hash: str
    version: str | None
    benchmark: str
    bench_version: str
    n: int
    is_baseline: bool
    metrics: dict[str, Any]
    path: str | None


@dataclass(frozen=True)
class ItemRow:
    item_id: str
    tier: str | None
    output: str
    scores: dict[str, float]


def _row(r: sqlite3.Row) -> EvalRow:
    return EvalRow(
        r["id"],
        r["created_at"],
        r["model_ref"],
        r["model_hash"],
        r["version"],
        r["benchmark"],
        r["bench_version"],
        r["n"],
        bool(r["is_baseline"]),
        loads(r["metrics"]),
        r["path"],
    )


def insert_eval(
    conn: sqlite3.Connection,
    *,
    model_ref: str,
    model_hash: str,
    benchmark: str,
    bench_version: str,
    version: str | None = None,
    is_baseline: bool = False,
    metrics: dict[str, Any] | None = None,
    path: str | None = None,
    items: list[ItemRow] | None = None,
    created_at: float | None = None,
) -> int:
    """Insert an evaluation and its items in one transaction; returns the eval id."""
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO evals (created_at, model_ref, model_hash, version, benchmark, bench_version, n,"
            " is_baseline, metrics, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time() if created_at is None else created_at,
                model_ref,
                model_hash,
                version,
                benchmark,
                bench_version,
                len(items or []),
                int(is_baseline),
                dumps(metrics or {}),
                path,
            ),
        )
        eval_id = int(cur.lastrowid or 0)
        _put_items(conn, eval_id, items or [])
    return eval_id


def _put_items(conn: sqlite3.Connection, eval_id: int, items: list[ItemRow]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO eval_items (eval_id, item_id, tier, output, scores) VALUES (?, ?, ?, ?, ?)",
        [(eval_id, i.item_id, i.tier, i.output, dumps(i.scores)) for i in items],
    )


def add_items(
    conn: sqlite3.Connection, eval_id: int, items: list[ItemRow], metrics: dict[str, Any]
) -> None:
    """Extend an evaluation (a cached baseline that meets new items) and refresh its metrics."""
    with transaction(conn):
        _put_items(conn, eval_id, items)
        n = conn.execute(
            "SELECT COUNT(*) FROM eval_items WHERE eval_id = ?", (eval_id,)
        ).fetchone()[0]
        conn.execute(
            "UPDATE evals SET n = ?, metrics = ? WHERE id = ?", (n, dumps(metrics), eval_id)
        )


def set_path(conn: sqlite3.Connection, eval_id: int, path: str) -> None:
    conn.execute("UPDATE evals SET path = ? WHERE id = ?", (path, eval_id))


def set_metrics(conn: sqlite3.Connection, eval_id: int, metrics: dict[str, Any]) -> None:
    conn.execute("UPDATE evals SET metrics = ? WHERE id = ?", (dumps(metrics), eval_id))


def get_eval(conn: sqlite3.Connection, eval_id: int) -> EvalRow | None:
    r = conn.execute("SELECT * FROM evals WHERE id = ?", (eval_id,)).fetchone()
    return _row(r) if r else None


def items(conn: sqlite3.Connection, eval_id: int) -> dict[str, ItemRow]:
    return {
        r["item_id"]: ItemRow(r["item_id"], r["tier"], r["output"], loads(r["scores"]))
        for r in conn.execute(
            "SELECT * FROM eval_items WHERE eval_id = ? ORDER BY rowid", (eval_id,)
        )
    }


def find_baseline(
    conn: sqlite3.Connection, model_hash: str, benchmark: str, bench_version: str
) -> EvalRow | None:
    r = conn.execute(
        "SELECT * FROM evals WHERE is_baseline = 1 AND model_hash = ? AND benchmark = ? AND bench_version = ?"
        " ORDER BY id LIMIT 1",
        (model_hash, benchmark, bench_version),
    ).fetchone()
    return _row(r) if r else None


def latest(
    conn: sqlite3.Connection,
    *,
    benchmark: str | None = None,
    bench_version: str | None = None,
    version: str | None = None,
    model_hash: str | None = None,
    include_baseline: bool = True,
) -> EvalRow | None:
    rows = recent(
        conn,
        benchmark=benchmark,
        bench_version=bench_version,
        version=version,
        model_hash=model_hash,
        include_baseline=include_baseline,
        limit=1,
    )
    return rows[0] if rows else None


def recent(
    conn: sqlite3.Connection,
    *,
    benchmark: str | None = None,
    bench_version: str | None = None,
    version: str | None = None,
    model_hash: str | None = None,
    include_baseline: bool = True,
    limit: int = 50,
) -> list[EvalRow]:
    where: list[str] = []
    args: list[Any] = []
    for col, val in (
        ("benchmark", benchmark),
        ("bench_version", bench_version),
        ("version", version),
        ("model_hash", model_hash),
    ):
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)
    if not include_baseline:
        where.append("is_baseline = 0")
    sql = "SELECT * FROM evals" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    return [_row(r) for r in conn.execute(sql, args)]


def run_evals(conn: sqlite3.Connection, run: str) -> list[EvalRow]:
    """The evals rows of one multi-benchmark evaluation."""
    rows = conn.execute(
        "SELECT * FROM evals WHERE json_extract(metrics, '$.run') = ? ORDER BY id", (run,)
    ).fetchall()
    return [_row(r) for r in rows]


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM evals").fetchone()[0])
