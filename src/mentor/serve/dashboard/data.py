"""Read-only views of the workspace for the dashboard: state.db, the status snapshot, run files.

Every function takes the workspace and returns plain JSON-able data. Nothing here writes; run
names and report names are looked up in directory listings, never joined from user input.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mentor.monitor import alerts as alerts_mod
from mentor.monitor.status import read_status
from mentor.paths import RunFolder, Workspace
from mentor.store import connect_readonly, events, jobs
from mentor.store import evals as evals_store
from mentor.store import versions as version_rows

log = logging.getLogger(__name__)

R = TypeVar("R")
MAX_POINTS = 2000
REPORT_SUFFIXES = {
    ".md": "text/markdown; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


def _rows(ws: Workspace, query: Callable[[sqlite3.Connection], list[R]]) -> list[R]:
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


_JSONL_CACHE: dict[str, tuple[int, int, list[dict[str, Any]]]] = {}
_CACHE_LOCK = threading.Lock()


def read_jsonl(path: Path, limit: int = 0) -> list[dict[str, Any]]:
    """The records of a JSONL file (the last ``limit`` when given).

    Whole reads are cached per file and extended with only the bytes appended since the last
    call, so polling a long ``metrics.jsonl`` every second stays cheap; a file that shrank or was
    replaced is read again. A torn last line waits for the next call.
    """
    if limit:
        return alerts_mod.tail_jsonl(path, limit)
    key = str(path)
    try:
        st = path.stat()
    except OSError:
        _JSONL_CACHE.pop(key, None)
        return []
    with _CACHE_LOCK:
        ino, offset, recs = _JSONL_CACHE.get(key, (st.st_ino, 0, []))
        if ino != st.st_ino or st.st_size < offset:
            offset, recs = 0, []
        if st.st_size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read(st.st_size - offset)
            end = chunk.rfind(b"\n") + 1
            text = chunk[:end].decode("utf-8", errors="replace")
            recs = recs + alerts_mod.parse_records(text.splitlines())
            offset += end
        _JSONL_CACHE[key] = (st.st_ino, offset, recs)
        return list(recs)


def _downsample(rows: list[dict[str, Any]], n: int = MAX_POINTS) -> list[dict[str, Any]]:
    if len(rows) <= n:
        return rows
    stride = len(rows) / n
    keep = [rows[int(i * stride)] for i in range(n - 1)] + [rows[-1]]
    return keep


# -- runs -------------------------------------------------------------------------------------
def runs(ws: Workspace) -> list[dict[str, Any]]:
    """Run folders, newest activity first."""
    out: list[dict[str, Any]] = []
    if not ws.runs.is_dir():
        return out
    for p in ws.runs.iterdir():
        if not p.is_dir() or p.name.startswith("."):
            continue
        run = RunFolder(p)
        files = [run.metrics, run.previews, run.meta, p]
        mtime = max((f.stat().st_mtime for f in files if f.exists()), default=0.0)
        out.append(
            {
                "id": p.name,
                "mtime": mtime,
                "has_metrics": run.metrics.is_file(),
                "has_previews": run.previews.is_file(),
                "has_evolution": run.evolution.is_dir(),
            }
        )
    out.sort(key=lambda r: r["mtime"], reverse=True)
    return out


def run_dir(ws: Workspace, run: str | None, *, need: str | None = None) -> Path | None:
    """The folder of run ``run`` (looked up by name among the runs), or the most recent one."""
    listing = runs(ws)
    if run:
        for r in listing:
            if r["id"] == run:
                return ws.runs / r["id"]
        return None
    for r in listing:
        if need is None or r[need]:
            return ws.runs / r["id"]
    return None


# -- overview ---------------------------------------------------------------------------------
def _ts(rec: dict[str, Any]) -> float | None:
    for k in ("ts", "time", "timestamp"):
        v = rec.get(k)
        if isinstance(v, int | float):
            return float(v)
    return None


def eta(status: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Progress of the lineage and the current file, and seconds left from the recent step rate."""
    out: dict[str, Any] = {}
    for key, cur, tot in (
        ("total", "current_step", "total_steps"),
        ("file", "batch_step", "batch_total_steps"),
    ):
        c, t = status.get(cur), status.get(tot)
        if isinstance(c, int | float) and isinstance(t, int | float) and t > 0:
            out[key] = {"step": c, "of": t, "share": max(0.0, min(1.0, c / t))}
    timed = [
        (r["step"], _ts(r)) for r in records if isinstance(r.get("step"), int | float) and _ts(r)
    ]
    rate = None
    if len(timed) >= 2:
        (s0, t0), (s1, t1) = timed[max(0, len(timed) - 20)], timed[-1]
        if t1 and t0 and t1 > t0 and s1 > s0:
            rate = (s1 - s0) / (t1 - t0)
    out["steps_per_s"] = rate
    for key in ("file", "total"):
        if key in out and rate:
            left = out[key]["of"] - out[key]["step"]
            out[key]["eta_s"] = max(0.0, left / rate)
    return out


def queue(ws: Workspace, limit: int = 20) -> list[dict[str, Any]]:
    """Pending jobs in the order the daemon runs them (the same listing as `mentor queue list`)."""
    keys = ("id", "name", "state", "priority", "attempts", "rows_total", "rows_done")
    pending = _rows(ws, jobs.pending)
    return [
        {k: j.to_dict()[k] for k in (*keys, "created_at", "started_at")} for j in pending[:limit]
    ]


def recent_events(
    ws: Workspace, kinds: list[str] | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    found = _rows(ws, lambda conn: events.recent(conn, kinds=kinds, limit=limit))
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
    return _rows(ws, lambda conn: alerts_mod.active(conn, within_s=within_s))


def system_cards(ws: Workspace, last: dict[str, Any] | None) -> dict[str, Any]:
    """GPU and memory figures: NVML and host memory sampled now, the training process's own from
    its last metrics record (``sys_`` fields and ``mem_gib``)."""
    from mentor.monitor import system

    s = system.sample(ws)
    train = {k: v for k, v in (last or {}).items() if k.startswith("sys_") or k == "mem_gib"}
    return {
        "gpus": s["gpus"],
        "ram_used_gib": s["ram_used_gib"],
        "ram_total_gib": s["ram_total_gib"],
        "cpu_percent": s["cpu_percent"],
        "disk_free_gib": s["disk_free_gib"],
        "training": train,
    }


def overview(ws: Workspace, run: str | None = None) -> dict[str, Any]:
    status = read_status(ws)
    rd = run_dir(ws, run, need="has_metrics")
    records = read_jsonl(RunFolder(rd).metrics, 50) if rd else []
    last = records[-1] if records else None
    return {
        "now": time.time(),
        "run": rd.name if rd else None,
        "status": status,
        "progress": eta(status, records),
        "last_metrics": last,
        "system": system_cards(ws, last),
        "alerts": active_alerts(ws),
        "queue": queue(ws),
        "events": recent_events(ws, limit=15),
    }


def metrics(ws: Workspace, run: str | None = None, since: int | None = None) -> dict[str, Any]:
    rd = run_dir(ws, run, need="has_metrics")
    if rd is None:
        return {"run": None, "records": []}
    recs = read_jsonl(RunFolder(rd).metrics)
    if since is not None:
        recs = [r for r in recs if isinstance(r.get("step"), int | float) and r["step"] > since]
    return {"run": rd.name, "records": _downsample(recs)}


# -- live -------------------------------------------------------------------------------------
def _summary(p: dict[str, Any]) -> dict[str, Any]:
    return {
        k: p.get(k)
        for k in (
            "step",
            "ts",
            "headline",
            "scores",
            "solved",
            "n",
            "solved_share",
            "loss",
            "seconds",
            "adapters",
        )
    }


def live(ws: Workspace, run: str | None = None) -> dict[str, Any]:
    rd = run_dir(ws, run, need="has_previews")
    previews = read_jsonl(RunFolder(rd).previews) if rd else []
    previews.sort(key=lambda p: (p.get("step", 0), p.get("ts", 0)))
    latest = max(previews, key=lambda p: p.get("ts", 0)) if previews else None
    evals_recent: list[dict[str, Any]] = []
    for r in _rows(ws, lambda conn: evals_store.recent(conn, limit=10)):
        evals_recent.append(
            {
                "id": r.id,
                "created_at": r.created_at,
                "version": r.version,
                "benchmark": r.benchmark,
                "n": r.n,
                "is_baseline": r.is_baseline,
                "headline": headline(r.metrics),
            }
        )
    return {
        "run": rd.name if rd else None,
        "latest": latest,
        "trend": [_summary(p) for p in _downsample(previews)],
        "evals": evals_recent,
        "status_examples": read_status(ws).get("recent_examples") or [],
    }


# -- evolution --------------------------------------------------------------------------------
_STEP_FILE = re.compile(r"^step_(\d+)\.json$")


def _snapshots(rd: Path) -> list[tuple[int, Path]]:
    d = RunFolder(rd).evolution
    if not d.is_dir():
        return []
    out = []
    for p in d.iterdir():
        m = _STEP_FILE.match(p.name)
        if m and p.is_file():
            out.append((int(m.group(1)), p))
    return sorted(out)


def _load(p: Path) -> dict[str, Any]:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def evolution(ws: Workspace, run: str | None = None) -> dict[str, Any]:
    rd = run_dir(ws, run, need="has_evolution")
    if rd is None:
        return {"run": None, "steps": [], "probes": []}
    snaps = [(s, _load(p)) for s, p in _snapshots(rd)]
    probes: dict[str, dict[str, Any]] = {}
    headline_key = None
    for step, snap in snaps:
        headline_key = snap.get("headline") or headline_key
        for pr in snap.get("probes") or []:
            pid = str(pr.get("id"))
            entry = probes.setdefault(
                pid,
                {
                    "id": pid,
                    "tier": pr.get("tier"),
                    "prompt": pr.get("prompt"),
                    "golden": pr.get("golden"),
                    "timeline": [],
                },
            )
            sc = pr.get("scores") or {}
            entry["timeline"].append(
                {
                    "step": step,
                    "score": sc.get(snap.get("headline") or "", None),
                    "scores": sc,
                    "loss": pr.get("loss"),
                    "matches": pr.get("matches"),
                    "output": pr.get("model_output"),
                }
            )
    return {
        "run": rd.name,
        "headline": headline_key,
        "steps": [s for s, _ in snaps],
        "scores": [
            {
                "step": s,
                "solved_share": snap.get("solved_share"),
                "loss": snap.get("loss"),
                "scores": snap.get("scores"),
            }
            for s, snap in snaps
        ],
        "probes": list(probes.values()),
    }


_TOKENS = re.compile(r"\w+|\s+|[^\w\s]")


def diff(a: str, b: str) -> list[dict[str, str]]:
    """Word-level diff ops (difflib): equal / insert / delete / replace with both sides' text."""
    ta, tb = _TOKENS.findall(a or ""), _TOKENS.findall(b or "")
    sm = difflib.SequenceMatcher(a=ta, b=tb, autojunk=False)
    return [
        {"op": op, "a": "".join(ta[i1:i2]), "b": "".join(tb[j1:j2])}
        for op, i1, i2, j1, j2 in sm.get_opcodes()
    ]


def evolution_diff(
    ws: Workspace, run: str | None, probe: str, a: int, b: int
) -> dict[str, Any] | None:
    rd = run_dir(ws, run, need="has_evolution")
    if rd is None:
        return None
    files = dict(_snapshots(rd))
    if a not in files or b not in files:
        return None

    def output(step: int) -> str | None:
        for pr in _load(files[step]).get("probes") or []:
            if str(pr.get("id")) == probe:
                return str(pr.get("model_output") or "")
        return None

    oa, ob = output(a), output(b)
    if oa is None or ob is None:
        return None
    ratio = difflib.SequenceMatcher(a=oa, b=ob, autojunk=False).ratio()
    return {
        "run": rd.name,
        "probe": probe,
        "a": a,
        "b": b,
        "similarity": ratio,
        "ops": diff(oa, ob),
    }


# -- evals, versions, reports -----------------------------------------------------------------
def headline(m: dict[str, Any]) -> dict[str, Any]:
    overall = m.get("overall") if isinstance(m.get("overall"), dict) else m
    for k in ("solved", "exact", "word_acc", "loss"):
        v = overall.get(k) if isinstance(overall, dict) else None
        if isinstance(v, int | float):
            return {"metric": k, "value": float(v)}
    return {"metric": None, "value": None}


def evals(ws: Workspace, limit: int = 500) -> dict[str, Any]:
    rows = _rows(ws, lambda conn: evals_store.recent(conn, limit=limit))
    by: dict[str, dict[str, Any]] = {}
    for r in reversed(rows):
        m = r.metrics
        h = headline(m)
        b = by.setdefault(
            r.benchmark,
            {"benchmark": r.benchmark, "baseline": None, "history": [], "tiers": set()},
        )
        found = m.get("tiers")
        tiers: dict[str, Any] = found if isinstance(found, dict) else {}
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
    rows = _rows(ws, lambda conn: version_rows.listing(conn, include_deleted=True))
    return [v.to_dict() for v in reversed(rows)]


def reports(ws: Workspace) -> dict[str, Path]:
    """Report files under ``ws.reports`` (one sub-folder deep), by name relative to it."""
    root = ws.reports
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    base = root.resolve()
    for p in [*root.iterdir(), *(q for d in root.iterdir() if d.is_dir() for q in d.iterdir())]:
        if p.is_symlink() or not p.is_file() or p.suffix.lower() not in REPORT_SUFFIXES:
            continue
        rp = p.resolve()
        if not rp.is_relative_to(base):
            continue
        found[p.relative_to(root).as_posix()] = rp
    return found


def report_list(ws: Workspace) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, p in reports(ws).items():
        st = p.stat()
        out.append({"name": name, "size": st.st_size, "mtime": st.st_mtime})
    out.sort(key=lambda r: r["mtime"], reverse=True)
    return out
