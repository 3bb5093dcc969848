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

#: the name of the copy a job trains when ``data.augment.enabled`` (its original is kept)
AUGMENTED_SUFFIX = ".augmented.jsonl"


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
    flat = flat_name(name)
    if path.name.endswith(AUGMENTED_SUFFIX):  # the trained copy of an augmented file
        flat = flat.removesuffix(".jsonl") + AUGMENTED_SUFFIX
    dest = place(path, ws.done / f"{stamp()}_{flat}") if path.exists() else ws.done / name
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
    if path is not None and (path.exists() or path.is_symlink()):
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
    outside = link_out_of_inbox(ws, src)
    if outside is not None:
        return _refuse_unread(ws, conn, src, name, priority, outside)
    file_hash = sha256_file(src)
    job = jobs.insert(conn, path=str(src), name=name, priority=priority, file_hash=file_hash)
    dest = place(src, processing_dir(ws) / f"{job.id}_{flat_name(name)}", copy=copy)
    job = jobs.update(conn, job.id, path=str(dest))
    events.emit(conn, "job_received", f"{name}: received", job_id=job.id, file=name, hash=file_hash)
    return validate_job(ws, cfg, conn, job, tokenizer=tokenizer, allow_duplicate=allow_duplicate)


#: a CLI flag in a validation message -> what a daemon user changes instead (mentor.yaml)
CLI_TO_CONFIG = {"pass --on-overlength drop": "set data.on_overlength: drop in mentor.yaml"}


def daemon_reasons(problems: list[str], errors: list[str]) -> list[str]:
    """Every reason once: the problems (the first bad line is one of them, with ``(and N
    more)``), then the other listed errors; hints name config keys, not CLI flags (the file
    came through the daemon)."""
    out = list(problems)
    out += [e for e in errors if not any(p.startswith(e) for p in problems)]
    for flag, key in CLI_TO_CONFIG.items():
        out = [r.replace(flag, key) for r in out]
    return out


def training_rows(report: Any, cfg: Config) -> int:
    """The rows a file trains (held-out rows out, ``epochs_per_file`` passes): the one
    denominator of the job's row count, from queueing to the end of training."""
    from mentor.train.lineage import split_report

    if not report.keep:
        return int(report.rows_trainable)
    _, train = split_report(report, cfg)
    return len(train) * cfg.training.epochs_per_file


def augment_job(ws: Workspace, cfg: Config, conn: sqlite3.Connection, job: jobs.Job) -> jobs.Job:
    """``data.augment.enabled``: the job trains an augmented copy of its (valid) file; the
    original goes to ``data/done/<ts>_<name>.original.jsonl`` at once, with a note of what the
    augmentation did, so it is kept whatever happens to the job."""
    from mentor.data.augment import augment_file

    src = Path(job.path)
    dest = src.with_name(src.name.removesuffix(".jsonl") + AUGMENTED_SUFFIX)
    report = augment_file(src, dest, cfg, home=ws.home)
    stem = flat_name(job.name).removesuffix(".jsonl")
    kept = place(src, ws.done / f"{stamp()}_{stem}.original.jsonl")
    atomic_write_json(
        kept.with_name(kept.name + ".json"),
        {"job_id": job.id, "trained_as": str(dest), "augment": report.to_dict(), "ts": time.time()},
    )
    events.emit(
        conn,
        "job_augmented",
        f"{job.name}: augmented, {report.rows_in} rows -> {report.rows_out} "
        f"({report.augmented} copies, {report.rejected} refused); original kept in {kept}",
        job_id=job.id,
        rows_in=report.rows_in,
        rows_out=report.rows_out,
        original=str(kept),
    )
    return jobs.update(conn, job.id, path=str(dest))


def link_out_of_inbox(ws: Workspace, src: Path) -> str | None:
    """Why a file of the inbox that is a link to a place outside it must not be taken (the
    daemon reads and moves only what lies in the workspace), else None."""
    inbox = ws.inbox.absolute()
    if not src.absolute().is_relative_to(inbox) or not src.is_symlink():
        return None
    target = src.resolve()
    if target.is_relative_to(inbox.resolve()):
        return None
    return (
        f"{flat_name(str(src.relative_to(inbox)))}: a link to {target}, outside the inbox; "
        "not read -- copy the file into the inbox instead"
    )


def _refuse_unread(
    ws: Workspace, conn: sqlite3.Connection, src: Path, name: str, priority: int, reason: str
) -> jobs.Job:
    """A failed job for a file that is never opened: the link itself is set aside."""
    job = jobs.insert(conn, path=str(src), name=name, priority=priority)
    stored = set_aside(ws, src, name, [reason], job_id=job.id)
    job = jobs.update(
        conn, job.id, state="failed", error=reason, path=str(stored), finished_at=time.time()
    )
    events.emit(
        conn, "validation_rejected", reason, level="warning", job_id=job.id, file=name,
        reasons=[reason], stored_as=str(stored),
    )  # fmt: skip
    return job


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
                reasons = daemon_reasons(report.problems, report.errors)
            rows = training_rows(report, cfg)
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
    if cfg.data.augment.enabled and not path.name.endswith(AUGMENTED_SUFFIX):
        return validate_job(ws, cfg, conn, augment_job(ws, cfg, conn, job), tokenizer=tokenizer)
    job = jobs.update(conn, job.id, state="queued", rows_total=rows, error=None)
    events.emit(conn, "job_queued", f"{job.name}: queued ({rows} rows)", job_id=job.id, rows=rows)
    return job
