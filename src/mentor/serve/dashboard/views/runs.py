"""Run folders, and the runs of one lineage in step order (the overview's continuous curves).

A run is one file's training (or one resume of it); a lineage keeps one global step across all
of them. The runs are those of the ``runs`` table (state.db, read-only) and any run folder on
disk; what each trained, its lineage and its first global step come from its ``meta.json``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentor.paths import RunFolder, Workspace
from mentor.serve.dashboard.views.db import rows
from mentor.serve.dashboard.views.jsonl import read_jsonl
from mentor.store import runs as run_rows


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


# -- lineage ----------------------------------------------------------------------------------
_META: dict[str, tuple[int, dict[str, Any]]] = {}
_META_LOCK = threading.Lock()


def _meta(folder: RunFolder) -> dict[str, Any]:
    """``meta.json`` of a run (cached while its mtime holds: it is written once, at the start)."""
    try:
        mtime = folder.meta.stat().st_mtime_ns
    except OSError:
        return {}
    key = str(folder.meta)
    with _META_LOCK:
        hit = _META.get(key)
        if hit is not None and hit[0] == mtime:
            return hit[1]
    try:
        data = json.loads(folder.meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    meta = data if isinstance(data, dict) else {}
    with _META_LOCK:
        _META[key] = (mtime, meta)
    return meta


@dataclass(frozen=True)
class LineageRun:
    id: str
    folder: RunFolder
    lineage_id: int | None
    step_start: int
    started_at: float
    file: str
    file_hash: str
    status: str | None


def _lineage_run(ws: Workspace, run_id: str, row: run_rows.Run | None) -> LineageRun:
    folder = ws.run_folder(run_id)
    meta = _meta(folder)
    lid = meta.get("lineage_id")
    return LineageRun(
        run_id,
        folder,
        int(lid) if isinstance(lid, int | float) else None,
        int(meta.get("global_step_start") or 0),
        float(meta.get("started_at") or (row.started_at if row else 0.0)),
        Path(str(meta.get("file") or "?")).name,
        str(meta.get("file_hash") or ""),
        row.status if row else None,
    )


def lineage_runs(ws: Workspace, run: str | None = None) -> list[LineageRun]:
    """The runs of the lineage of ``run`` (default: of the most recently active run with
    metrics), in step order. A run without a lineage in its ``meta.json`` stands alone."""
    newest = run_dir(ws, run, need="has_metrics")
    if newest is None:
        return []
    table = {r.id: r for r in rows(ws, run_rows.listing)}
    on_disk = {r["id"] for r in runs(ws)}
    known = [_lineage_run(ws, rid, table.get(rid)) for rid in sorted(on_disk)]
    mine = next(r for r in known if r.id == newest.name)
    if mine.lineage_id is None:
        return [mine]
    same = [r for r in known if r.lineage_id == mine.lineage_id]
    return sorted(same, key=lambda r: (r.step_start, r.started_at))


def lineage_metrics(ws: Workspace, run: str | None = None) -> dict[str, Any]:
    """The metrics records of a whole lineage over its global step, with the file boundaries.

    Each run's records are tagged with the run; a step logged again by a later run (a resume
    from an earlier checkpoint) takes the later run's record, so the curve never doubles back.
    """
    members = lineage_runs(ws, run)
    by_step: dict[float, dict[str, Any]] = {}
    for r in members:
        for rec in read_jsonl(r.folder.metrics):
            step = rec.get("step")
            if isinstance(step, int | float):
                by_step[step] = {**rec, "run": r.id}
    records = [by_step[s] for s in sorted(by_step)]
    boundaries = [
        {"step": r.step_start, "file": r.file, "run": r.id}
        for i, r in enumerate(members)
        if i == 0 or (r.file, r.file_hash) != (members[i - 1].file, members[i - 1].file_hash)
    ]
    return {
        "run": members[-1].id if members else None,
        "lineage_id": members[-1].lineage_id if members else None,
        "runs": [
            {"id": r.id, "file": r.file, "step_start": r.step_start, "status": r.status}
            for r in members
        ],
        "boundaries": boundaries,
        "records": records,
    }
