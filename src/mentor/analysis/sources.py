"""The one module that reads the workspace for analysis: run folders and ``state.db``.

Run folders are found through :class:`~mentor.paths.Workspace`; ``state.db`` is read through
``mentor.store`` functions on a read-only connection; nothing in ``mentor.analysis`` touches
SQL. Nothing here writes, and nothing parses log text.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.errors import NotFoundError
from mentor.monitor.alerts import parse_records
from mentor.paths import Workspace
from mentor.store import connect_readonly
from mentor.store import evals as store_evals
from mentor.store import events as store_events
from mentor.store import runs as store_runs
from mentor.store import versions as store_versions


@contextlib.contextmanager
def db(ws: Workspace) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection to ``state.db``, or None when the workspace has none yet."""
    conn = connect_readonly(ws.db)
    if conn is None:
        yield None
        return
    try:
        yield conn
    finally:
        conn.close()


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# -- run folders ---------------------------------------------------------------------------------
@dataclass
class Run:
    """One training run's folder: ``meta.json``, ``summary.json`` and ``metrics.jsonl`` records."""

    id: str
    dir: Path
    meta: dict[str, Any]
    summary: dict[str, Any]
    records: list[dict[str, Any]] = field(repr=False)
    previews: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def started_at(self) -> float:
        return float(self.meta.get("started_at") or 0.0)

    @property
    def file(self) -> str:
        return Path(str(self.meta.get("file") or "?")).name

    @property
    def file_hash(self) -> str:
        return str(self.meta.get("file_hash") or "")

    @property
    def lineage_id(self) -> int | None:
        lid = self.meta.get("lineage_id")
        return int(lid) if lid is not None else None

    @property
    def step_start(self) -> int:
        return int(self.meta.get("global_step_start") or 0)

    @property
    def step_end(self) -> int:
        steps = [int(r["step"]) for r in self.records if isinstance(r.get("step"), int | float)]
        return int(self.summary.get("global_step") or max(steps, default=self.step_start))

    @property
    def on_gpu(self) -> bool:
        return str(self.meta.get("device") or "").startswith("cuda")

    @property
    def seconds(self) -> float:
        """Training wall time: the run's own figure, else the span of its records."""
        secs = (self.summary.get("metrics") or {}).get("seconds")
        if isinstance(secs, int | float):
            return float(secs)
        ts = [float(r["ts"]) for r in self.records if isinstance(r.get("ts"), int | float)]
        return max(ts) - min(ts) if len(ts) > 1 else 0.0

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of every record that carries a finite-or-not number under ``key``."""
        steps, values = [], []
        for r in self.records:
            v, s = r.get(key), r.get("step")
            if isinstance(v, int | float) and isinstance(s, int | float):
                steps.append(int(s))
                values.append(float(v))
        return steps, values

    def mean_of(self, key: str) -> float | None:
        _, vals = self.series(key)
        return sum(vals) / len(vals) if vals else None


def run_ids(ws: Workspace) -> list[str]:
    """Training run folders (those with ``meta.json``), oldest first by their start time."""
    if not ws.runs.is_dir():
        return []
    found = []
    for p in ws.runs.iterdir():
        if p.is_dir() and not p.name.startswith(".") and (p / "meta.json").is_file():
            found.append((float(_json(p / "meta.json").get("started_at") or 0.0), p.name))
    return [name for _, name in sorted(found)]


def load_run(ws: Workspace, run_id: str) -> Run:
    names = set(run_ids(ws))
    if run_id not in names:  # looked up in the listing, never joined from user input
        raise NotFoundError(
            f"run {run_id!r}: no such run folder in {ws.runs}", hint="see `mentor curve --json`"
        )
    d = ws.run_dir(run_id)
    records: list[dict[str, Any]] = []
    mfile = d / "metrics.jsonl"
    if mfile.is_file():
        records = parse_records(mfile.read_text(encoding="utf-8", errors="replace").splitlines())
    previews: list[dict[str, Any]] = []
    pfile = d / "previews.jsonl"
    if pfile.is_file():  # live previews: probe scores during training (examples left out)
        lines = pfile.read_text(encoding="utf-8", errors="replace").splitlines()
        previews = [{k: v for k, v in p.items() if k != "examples"} for p in parse_records(lines)]
    return Run(run_id, d, _json(d / "meta.json"), _json(d / "summary.json"), records, previews)


def all_runs(ws: Workspace) -> list[Run]:
    return [load_run(ws, r) for r in run_ids(ws)]


def lineage_runs(ws: Workspace, lineage_id: int | None = None) -> list[Run]:
    """The runs of one lineage in step order (default: the lineage of the newest run)."""
    runs = all_runs(ws)
    if not runs:
        return []
    lid = runs[-1].lineage_id if lineage_id is None else lineage_id
    mine = [r for r in runs if r.lineage_id == lid]
    return sorted(mine, key=lambda r: (r.step_start, r.started_at))


def runs_between(ws: Workspace, since: float, until: float) -> list[Run]:
    """Runs that finished in ``[since, until)`` (by the ``runs`` table), oldest first."""
    with db(ws) as conn:
        if conn is None:
            return []
        ids = [r.id for r in store_runs.finished_between(conn, since, until)]
    known = set(run_ids(ws))
    return [load_run(ws, i) for i in ids if i in known]


# -- versions ------------------------------------------------------------------------------------
@dataclass
class VersionInfo:
    name: str
    created_at: float
    parent: str | None
    kind: str
    status: str
    metrics: dict[str, Any]
    manifest: dict[str, Any]

    @property
    def short(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def steps(self) -> int | None:
        s = self.manifest.get("steps")
        return int(s) if isinstance(s, int | float) else None

    @property
    def data(self) -> list[dict[str, Any]]:
        d = self.manifest.get("data")
        return [x for x in d if isinstance(x, dict)] if isinstance(d, list) else []

    def metric(self, name: str) -> float | None:
        v = self.metrics.get(name)
        return float(v) if isinstance(v, int | float) else None


def versions(ws: Workspace, *, until: float | None = None) -> list[VersionInfo]:
    """Versions (deleted ones excluded), oldest first, with their manifests."""
    with db(ws) as conn:
        if conn is None:
            return []
        rows = store_versions.listing(conn)
    return [
        VersionInfo(
            v.name,
            float(v.created_at),
            v.parent,
            v.kind,
            v.status,
            v.metrics,
            _json(ws.version_dir(v.name) / "manifest.json"),
        )
        for v in rows
        if until is None or v.created_at < until
    ]


# -- evaluations, events, the server's snapshot -------------------------------------------------
def events_between(
    ws: Workspace, kinds: list[str], since: float, until: float, limit: int = 10_000
) -> list[store_events.Event]:
    """Events of ``kinds`` in ``[since, until)``, oldest first."""
    with db(ws) as conn:
        if conn is None:
            return []
        got = store_events.recent(conn, kinds=kinds, since=since, limit=limit)
    return sorted((e for e in got if e.ts < until), key=lambda e: e.id)


def evals(
    ws: Workspace,
    *,
    benchmark: str | None = None,
    bench_version: str | None = None,
    version: str | None = None,
    model_hash: str | None = None,
    include_baseline: bool = True,
    limit: int = 10_000,
) -> list[store_evals.EvalRow]:
    """Stored evaluations, newest first."""
    with db(ws) as conn:
        if conn is None:
            return []
        return store_evals.recent(
            conn,
            benchmark=benchmark,
            bench_version=bench_version,
            version=version,
            model_hash=model_hash,
            include_baseline=include_baseline,
            limit=limit,
        )


def eval_items(ws: Workspace, eval_id: int) -> dict[str, store_evals.ItemRow]:
    with db(ws) as conn:
        return {} if conn is None else store_evals.items(conn, eval_id)


def stored_items(
    ws: Workspace, model_hash: str, benchmark: str, bench_version: str
) -> tuple[dict[str, dict[str, float]], dict[str, str | None], list[store_evals.EvalRow]]:
    """Every stored item score of a model on a task: (id -> merged scores, id -> tier, rows).

    Rows are read newest first; an item's scores from newer rows win, metrics found only in
    older rows (another evaluator on the same items) are kept.
    """
    rows = evals(ws, benchmark=benchmark, bench_version=bench_version, model_hash=model_hash)
    scores: dict[str, dict[str, float]] = {}
    tiers: dict[str, str | None] = {}
    with db(ws) as conn:
        if conn is None:
            return {}, {}, []
        for row in rows:
            for iid, it in store_evals.items(conn, row.id).items():
                merged = scores.setdefault(iid, {})
                for k, v in it.scores.items():
                    merged.setdefault(k, float(v))
                tiers.setdefault(iid, it.tier)
    return scores, tiers, rows


def serve_snapshot(ws: Workspace) -> dict[str, Any] | None:
    """The API server's last metrics snapshot (``status/serve_metrics.json``), if any."""
    data = _json(ws.serve_metrics_file)
    return data or None
