"""The overview page: status cards, progress with ETA, system cards and the lineage's curves."""

from __future__ import annotations

import time
from typing import Any

from mentor.monitor.status import read_status
from mentor.paths import RunFolder, Workspace
from mentor.serve.dashboard.views.jsonl import downsample, read_jsonl
from mentor.serve.dashboard.views.runs import lineage_metrics, run_dir
from mentor.serve.dashboard.views.tables import active_alerts, queue, recent_events


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


def metrics(
    ws: Workspace, run: str | None = None, since: int | None = None, *, lineage: bool = True
) -> dict[str, Any]:
    """The curves' records: by default the whole lineage of ``run`` (or of the newest run) over
    its global step, file boundaries marked; with ``lineage=False`` the one run only."""
    if lineage:
        out = lineage_metrics(ws, run)
    else:
        rd = run_dir(ws, run, need="has_metrics")
        recs = [{**r, "run": rd.name} for r in read_jsonl(RunFolder(rd).metrics)] if rd else []
        out = {
            "run": rd.name if rd else None,
            "lineage_id": None,
            "runs": [{"id": rd.name}] if rd else [],
            "boundaries": [],
            "records": recs,
        }
    if since is not None:
        out["records"] = [
            r
            for r in out["records"]
            if isinstance(r.get("step"), int | float) and r["step"] > since
        ]
    out["records"] = downsample(out["records"])
    return out
