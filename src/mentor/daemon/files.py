"""Where a file lives on its way: inbox -> data/processing -> data/done | data/failed.

A file is moved out of the inbox as soon as its job exists (``data/processing/<job>_<name>``),
so a restart never takes it twice. It is validated whole before it is queued; a rejected file
goes to ``data/failed/`` with ``<name>.error.json`` (every reason, with line numbers) and an
event. Finished files go to ``data/done/<YYYYmmdd-HHMMSS>_<name>``.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mentor.config import Config
from mentor.paths import Workspace, atomic_write_json, sha256_file
from mentor.store import events, jobs

log = logging.getLogger(__name__)


def processing_dir(ws: Workspace) -> Path:
    """Files of queued and running jobs (outside the inbox, so they are never taken twice)."""
    return ws.data / "processing"


def stamp(ts: float | None = None) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if ts is None else ts))


def flat_name(rel: str) -> str:
    """``sub/dir/x.jsonl`` -> ``sub__dir__x.jsonl`` (sub-folders of the inbox are kept in the name)."""
    return rel.replace("\\", "/").strip("/").replace("/", "__")


def _free(path: Path) -> Path:
    """``path`` or ``path`` with a counter, so nothing is overwritten."""
    if not path.exists():
        return path
    for i in range(1, 10_000):
        cand = path.with_name(f"{path.stem}.{i}{path.suffix}")
        if not cand.exists():
            return cand
    raise FileExistsError(path)


def place(src: Path, dest: Path, *, copy: bool = False) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest = _free(dest)
    if copy:
        shutil.copy2(src, dest)
    else:
        shutil.move(str(src), dest)
    return dest


def archive_done(
    ws: Workspace, path: Path, name: str, *, note: dict[str, Any] | None = None
) -> Path:
    dest = (
        place(path, ws.done / f"{stamp()}_{flat_name(name)}") if path.exists() else ws.done / name
    )
    if note is not None:
        atomic_write_json(dest.with_name(dest.name + ".json"), note)
    return dest


def set_aside(
    ws: Workspace,
    path: Path | None,
    name: str,
    reasons: list[str],
    *,
    job_id: int | None = None,
    extra: dict[str, Any] | None = None,
    copy: bool = False,
) -> Path:
    """Move a refused or failed file to data/failed/ with ``<name>.error.json`` beside it."""
    if path is not None and path.exists():
        dest = place(path, ws.failed / f"{stamp()}_{flat_name(name)}", copy=copy)
    else:
        dest = _free(ws.failed / f"{stamp()}_{flat_name(name)}")
    report = {
        "file": name,
        "stored_as": str(dest),
        "job_id": job_id,
        "reasons": reasons,
        "ts": time.time(),
        **(extra or {}),
    }
    atomic_write_json(dest.with_name(dest.name + ".error.json"), report)
    return dest


def admit(
    ws: Workspace,
    cfg: Config,
    conn: sqlite3.Connection,
    src: Path,
    *,
    name: str,
    priority: int,
    tokenizer: Callable[[], Any],
    copy: bool = False,
    allow_duplicate: bool = False,
) -> jobs.Job:
    """Make a job for ``src``: move it to processing, validate it whole, queue it or set it aside."""

    file_hash = sha256_file(src)
    job = jobs.insert(conn, path=str(src), name=name, priority=priority, file_hash=file_hash)
    dest = place(src, processing_dir(ws) / f"{job.id}_{flat_name(name)}", copy=copy)
    job = jobs.update(conn, job.id, path=str(dest))
    events.emit(conn, "job_received", f"{name}: received", job_id=job.id, file=name, hash=file_hash)
    return validate_job(ws, cfg, conn, job, tokenizer=tokenizer, allow_duplicate=allow_duplicate)


def validate_job(
    ws: Workspace,
    cfg: Config,
    conn: sqlite3.Connection,
    job: jobs.Job,
    *,
    tokenizer: Callable[[], Any],
    allow_duplicate: bool = False,
) -> jobs.Job:
    path = Path(job.path)
    reasons: list[str] = []
    detail: dict[str, Any] = {}
    if not allow_duplicate and job.file_hash:
        twin = jobs.find_twin(conn, job.file_hash, job.id)
        if twin is not None:
            reasons.append(
                f"{job.name}: same content as job {twin.id} ({twin.name}, {twin.state});"
                f" to train it again run `mentor queue retry {job.id}`"
            )
    if not reasons:
        try:
            from mentor.data.validate import validate_file

            report = validate_file(ws, cfg, path, tokenizer=tokenizer())
            detail = {"report": report.to_dict()}
            if not report.ok:
                reasons = list(report.problems) + [
                    e for e in report.errors if e not in report.problems
                ]
            rows = report.rows_trainable
        except Exception as err:  # validation that crashes never lets a file through
            log.exception("validation of %s crashed", path)
            reasons = [f"{job.name}: validation failed: {type(err).__name__}: {err}"]
    if reasons:
        reasons = [r.replace(str(path), job.name) for r in reasons]
        stored = set_aside(ws, path, job.name, reasons, job_id=job.id, extra=detail)
        job = jobs.update(
            conn,
            job.id,
            state="failed",
            error=reasons[0],
            path=str(stored),
            finished_at=time.time(),
        )
        events.emit(
            conn,
            "validation_rejected",
            reasons[0],
            level="warning",
            job_id=job.id,
            file=job.name,
            reasons=reasons,
            stored_as=str(stored),
        )
        return job
    job = jobs.update(conn, job.id, state="queued", rows_total=rows, error=None)
    events.emit(conn, "job_queued", f"{job.name}: queued ({rows} rows)", job_id=job.id, rows=rows)
    return job
