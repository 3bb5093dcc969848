"""The tables of state.db the pages show: queue, events, alerts, evaluations, versions."""

from __future__ import annotations

from typing import Any

from mentor.monitor import alerts as alerts_mod
from mentor.paths import Workspace
from mentor.serve.dashboard.views.db import rows
from mentor.store import evals as evals_store
from mentor.store import events, jobs
from mentor.store import versions as version_rows


def queue(ws: Workspace, limit: int = 20) -> list[dict[str, Any]]:
    """Pending jobs in the order the daemon runs them (the same listing as `mentor queue list`)."""
    keys = ("id", "name", "state", "priority", "attempts", "rows_total", "rows_done")
    pending = rows(ws, jobs.pending)
    return [
        {k: j.to_dict()[k] for k in (*keys, "created_at", "started_at")} for j in pending[:limit]
    ]


def recent_events(
    ws: Workspace, kinds: list[str] | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    found = rows(ws, lambda conn: events.recent(conn, kinds=kinds, limit=limit))
    return [
        {
            "id": e.id,
            "ts": e.ts,
            "kind": e.kind,
            "level": e.level,
            "message": e.message,
            "version": e.version,
            "job_id": e.job_id,
            "data": e.data,
        }
        for e in found
    ]


def active_alerts(ws: Workspace, within_s: float = 600.0) -> list[dict[str, Any]]:
    return rows(ws, lambda conn: alerts_mod.active(conn, within_s=within_s))


def headline(m: dict[str, Any]) -> dict[str, Any]:
    """The first of solved / exact / word_acc / loss an eval's metrics carry (overall)."""
    overall = m.get("overall") if isinstance(m.get("overall"), dict) else m
    for k in ("solved", "exact", "word_acc", "loss"):
        v = overall.get(k) if isinstance(overall, dict) else None
        if isinstance(v, int | float):
            return {"metric": k, "value": float(v)}
    return {"metric": None, "value": None}


def recent_evals(ws: Workspace, limit: int = 10) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "created_at": r.created_at,
            "version": r.version,
            "benchmark": r.benchmark,
            "n": r.n,
            "is_baseline": r.is_baseline,
            "headline": headline(r.metrics),
        }
        for r in rows(ws, lambda conn: evals_store.recent(conn, limit=limit))
    ]


def evals(ws: Workspace, limit: int = 500) -> dict[str, Any]:
    """Per benchmark: the baseline, the history of versions (overall and per tier)."""
    found = rows(ws, lambda conn: evals_store.recent(conn, limit=limit))
    by: dict[str, dict[str, Any]] = {}
    for r in reversed(found):
        m = r.metrics
        h = headline(m)
        b = by.setdefault(
            r.benchmark,
            {"benchmark": r.benchmark, "baseline": None, "history": [], "tiers": set()},
        )
        got = m.get("tiers")
        tiers: dict[str, Any] = got if isinstance(got, dict) else {}
        point = {
            "id": r.id,
            "created_at": r.created_at,
            "version": r.version,
            "model_ref": r.model_ref,
            "n": r.n,
            "metric": h["metric"],
            "value": h["value"],
            "tiers": {t: headline(v)["value"] for t, v in tiers.items() if isinstance(v, dict)},
        }
        b["tiers"].update(point["tiers"])
        if r.is_baseline:
            b["baseline"] = point
        else:
            b["history"].append(point)
    out = []
    for b in by.values():
        b["tiers"] = sorted(b["tiers"])
        out.append(b)
    return {"benchmarks": out}


def versions(ws: Workspace) -> list[dict[str, Any]]:
    """Every version, newest first (deleted ones too, marked by their status)."""
    found = rows(ws, lambda conn: version_rows.listing(conn, include_deleted=True))
    return [v.to_dict() for v in reversed(found)]
