"""What a user asks of the queue: add a file, remove a waiting job, retry a finished one, resume
paused ones. The CLI calls these; the daemon calls :func:`resume_paused` on ``mentor resume``.

A file is never deleted: a removed job's file goes to ``data/failed/`` with a note, a retried
one comes back from there (or from ``data/done/``) and is validated again.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mentor.config import Config
from mentor.daemon import files
from mentor.errors import DataError, JobError, NotFoundError
from mentor.paths import Workspace
from mentor.store import events, jobs

#: states a job may be removed from (it has not started, or it is paused)
REMOVABLE = ("queued", "paused", "validating")
RETRYABLE = ("failed", "skipped", "removed")


def add(
    ws: Workspace,
    cfg: Config,
    conn: sqlite3.Connection,
    src: Path,
    *,
    priority: str,
    tokenizer: Callable[[], Any],
) -> jobs.Job:
    """Copy ``src`` into the workspace, validate it whole and queue it (or set it aside)."""
    if not src.is_file():
        raise NotFoundError(f"{src}: no such file")
    return files.admit(
        ws,
        cfg,
        conn,
        src,
        name=src.name,
        priority=jobs.priority_value(priority),
        copy=True,
        tokenizer=tokenizer,
    )


def refused(job: jobs.Job) -> DataError:
    """The error for a job whose file was refused at validation."""
    return DataError(f"{job.error} (set aside in {job.path})")


def remove(ws: Workspace, conn: sqlite3.Connection, job_id: int) -> tuple[jobs.Job, Path]:
    """Take a waiting job off the queue; returns the job and where its file is kept."""
    job = jobs.get(conn, job_id)
    if job.state not in REMOVABLE:
        raise JobError(
            f"job {job_id} is {job.state}: only waiting jobs can be removed",
            hint="use `mentor skip` for the job in training",
        )
    if not jobs.claim(conn, job_id, REMOVABLE, state="removed"):
        raise JobError(f"job {job_id} started meanwhile; use `mentor skip`")
    stored = files.set_aside(
        ws, Path(job.path), job.name, ["removed from the queue by the user"], job_id=job.id
    )
    job = jobs.update(conn, job_id, path=str(stored), finished_at=time.time())
    events.emit(conn, "job_removed", f"{job.name}: removed from the queue", job_id=job_id)
    return job, stored


def retry(
    ws: Workspace,
    cfg: Config,
    conn: sqlite3.Connection,
    job_id: int,
    *,
    tokenizer: Callable[[], Any],
) -> jobs.Job:
    """Queue a failed, skipped or removed job again: attempts reset, validated again."""
    job = jobs.get(conn, job_id)
    if job.state not in RETRYABLE:
        raise JobError(
            f"job {job_id} is {job.state}: only failed, skipped or removed jobs are retried"
        )
    src = Path(job.path)
    if not src.is_file():
        raise NotFoundError(f"job {job_id}: its file {src} is gone")
    dest = files.place(src, files.processing_dir(ws) / f"{job.id}_{files.flat_name(job.name)}")
    src.with_name(src.name + ".error.json").unlink(missing_ok=True)
    job = jobs.update(
        conn,
        job_id,
        path=str(dest),
        state="validating",
        attempts=0,
        not_before=0,
        error=None,
        finished_at=None,
    )
    return files.validate_job(ws, cfg, conn, job, allow_duplicate=True, tokenizer=tokenizer)


def resume_paused(conn: sqlite3.Connection) -> list[jobs.Job]:
    """Paused jobs go back to the queue (they keep their row and run first by priority)."""
    resumed = []
    for job in jobs.listing(conn, states=("paused",)):
        resumed.append(jobs.update(conn, job.id, state="queued", not_before=0))
        events.emit(conn, "job_resumed", f"{job.name}: resumed", job_id=job.id)
    return resumed
