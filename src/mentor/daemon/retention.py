"""Retention of versions by policy, under a disk budget (never by age alone).

Kept always: the last ``keep_last`` versions, the ``keep_best`` best by evaluation
(``eval.gate_metric`` or any ``*<metric>`` key; lower is better only for losses), one per day for
``keep_daily_days`` days, the serving version, base versions (consolidated models: the bases of
later adapters) and the base training uses. Only when the versions exceed
``daemon.disk_budget_gib`` are the others deleted, oldest first, until under budget. When the
kept ones alone exceed the budget, an alert event says so; nothing kept is deleted.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from mentor.config import Config
from mentor.daemon import versions
from mentor.daemon.hashing import tree_size
from mentor.paths import Workspace
from mentor.store import events, kv
from mentor.store import versions as version_rows
from mentor.store.kv import Key


@dataclass
class Plan:
    keep: dict[str, str]  # name -> why
    delete: list[str]
    total_bytes: int
    budget_bytes: int
    after_bytes: int


def _score(v: version_rows.Version, metric: str) -> float | None:
    cands = [
        (k, val)
        for k, val in v.metrics.items()
        if isinstance(val, int | float) and not isinstance(val, bool)
    ]
    for k, val in cands:
        if k == metric or k.endswith(f"_{metric}") or k.endswith(f".{metric}"):
            return float(val)
    for k, val in cands:
        if "loss" in k:
            return -float(val)
    return None


def plan(ws: Workspace, conn: sqlite3.Connection, cfg: Config, *, now: float | None = None) -> Plan:
    now = time.time() if now is None else now
    d = cfg.daemon
    items = version_rows.listing(conn)  # oldest first
    keep: dict[str, str] = {}
    for v in items[-d.keep_last :]:
        keep.setdefault(v.name, "last")
    scored = [(s, v) for v in items if (s := _score(v, cfg.eval.gate_metric)) is not None]
    for _, v in sorted(scored, key=lambda x: -x[0])[: d.keep_best]:
        keep.setdefault(v.name, "best")
    days: set[str] = set()
    for v in reversed(items):
        day = time.strftime("%Y-%m-%d", time.localtime(v.created_at))
        if now - v.created_at <= d.keep_daily_days * 86400 and day not in days:
            days.add(day)
            keep.setdefault(v.name, "daily")
    serving = kv.get(conn, Key.SERVING_VERSION)
    base_version = kv.get(conn, Key.BASE_VERSION)
    for v in items:
        if serving in (v.name, v.short):
            keep[v.name] = "serving"
        elif v.kind == "base" or base_version == v.name:
            keep[v.name] = "base"
    sizes = {v.name: tree_size(ws.version_dir(v.name)) for v in items}
    total = sum(sizes.values())
    budget = int(d.disk_budget_gib * 2**30)
    delete: list[str] = []
    after = total
    for v in items:
        if after <= budget:
            break
        if v.name not in keep:
            delete.append(v.name)
            after -= sizes[v.name]
    return Plan(keep, delete, total, budget, after)


def apply(ws: Workspace, conn: sqlite3.Connection, cfg: Config) -> dict[str, Any]:
    p = plan(ws, conn, cfg)
    for name in p.delete:
        versions.delete(ws, conn, name, backup=False)
        events.emit(
            conn,
            "retention.deleted",
            f"{name} deleted by retention (over the disk budget)",
            version=name,
        )
    if p.after_bytes > p.budget_bytes:
        events.emit(
            conn,
            "alert.disk_budget",
            f"versions use {p.after_bytes / 2**30:.2f} GiB > daemon.disk_budget_gib "
            f"{cfg.daemon.disk_budget_gib}; every remaining version is kept by policy",
            level="warning",
        )
    return {"deleted": p.delete, "kept": p.keep, "bytes": p.after_bytes}
