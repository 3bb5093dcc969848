"""One training run's record: the folder ``runs/<id>/`` and its row in ``runs``.

:class:`TrainRun` writes ``config.yaml`` and ``meta.json`` at the start, one ``metrics.jsonl``
record per logged optimizer step, and at the end ``summary.json`` with the run's row closed
(``completed | paused | stopped | skipped | failed``).

A run whose process died (killed, power cut) stays ``running`` in the table, and its
``metrics.jsonl`` holds steps after its last checkpoint that the lineage trains again: they
would appear in two runs. :func:`reconcile` (called before every training starts) closes such a
run as ``killed`` and moves those lost records out of ``metrics.jsonl`` into
``metrics.lost.jsonl``, so every reader of ``metrics.jsonl`` sees each step of a lineage once.
A run that stops on NaN or an error cuts its own lost tail the same way.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mentor import config as config_mod
from mentor.config import Config
from mentor.paths import RunFolder, Workspace, atomic_write_json, atomic_write_text
from mentor.store import runs, transaction
from mentor.store.events import emit

if TYPE_CHECKING:
    from mentor.train.lineage import FilePlan

LOST_METRICS = "metrics.lost.jsonl"

Status = Literal["completed", "paused", "stopped", "skipped", "failed"]


@dataclass
class TrainOutcome:
    """What one ``train_file`` call did (its ``summary.json`` and the runs row's summary)."""

    status: Status
    run_id: str | None
    file_hash: str
    rows_total: int  # training rows of the file (held-out rows excluded; x epochs_per_file)
    rows_trained: int  # rows trained by this call
    next_row: int  # position in the file's seeded order where training resumes
    global_step: int
    tokens: int  # non-padding input tokens trained by this call
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str = ""


def new_run_id(ws: Workspace, file_hash: str) -> str:
    base = time.strftime("%Y%m%d-%H%M%S") + f"-{file_hash[:8]}"
    run_id, n = base, 1
    while ws.run_dir(run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("mentor", "torch", "transformers", "peft", "datasets", "accelerate"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


def git_hash() -> str | None:
    try:
        res = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (res.stdout.strip() or None) if res.returncode == 0 else None


def mem_gib() -> float:
    """Peak CUDA memory, else the process's resident memory, in GiB."""
    import psutil
    import torch

    if torch.cuda.is_available():
        return round(torch.cuda.max_memory_allocated() / 2**30, 3)
    return round(psutil.Process().memory_info().rss / 2**30, 3)


@dataclass
class TrainRun:
    """The record of one ``train_file`` call that trains (see the module docstring)."""

    ws: Workspace
    conn: sqlite3.Connection
    run_id: str
    job_id: int | None
    path: Path
    started: float

    @property
    def folder(self) -> RunFolder:
        return self.ws.run_folder(self.run_id)

    def start(
        self, cfg: Config, state: dict[str, Any], plan: FilePlan, *, steps: int, device: str
    ) -> None:
        """The folder with ``config.yaml`` and ``meta.json``, the ``runs`` row, the start event."""
        from mentor.train.trainer import logging_every

        folder, file_hash = self.folder, str(state["current_file"])
        next_row, rows, step = (
            int(plan.entry["next_row"]),
            len(plan.order),
            int(state["global_step"]),
        )
        folder.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder.config, config_mod.dump_yaml(cfg))
        meta = {
            "run_id": self.run_id,
            "kind": "train",
            "file": str(self.path),
            "file_hash": file_hash,
            "rows_total": rows,
            "heldout": len(plan.heldout),
            "next_row_start": next_row,
            "lineage_id": state["lineage_id"],
            "global_step_start": step,
            "steps": steps,
            "logging_steps": logging_every(cfg, steps),
            "base_model": str(cfg.model_path(self.ws.home)),
            "method": cfg.training.method,
            "device": device,
            "packing": plan.packing,
            "versions": package_versions(),
            "git": git_hash(),
            "job_id": self.job_id,
            "pid": os.getpid(),
            "data": {self.path.name: file_hash},
            "started_at": self.started,
        }
        atomic_write_json(folder.meta, meta)
        with transaction(self.conn):
            runs.start(
                self.conn,
                self.run_id,
                job_id=self.job_id,
                dir=str(folder.path),
                started_at=self.started,
            )
        self.event(
            "train.started",
            f"training {self.path.name} from row {next_row}/{rows}",
            file=str(self.path),
            file_hash=file_hash,
            next_row=next_row,
            rows_total=rows,
            global_step=step,
            steps=steps,
        )

    def event(self, kind: str, message: str, *, level: str = "info", **data: Any) -> None:
        with transaction(self.conn):
            emit(
                self.conn,
                kind,
                message,
                level=level,
                job_id=self.job_id,
                run_id=self.run_id,
                **data,
            )

    def write_metrics(self, record: dict[str, Any]) -> None:
        with open(self.folder.metrics, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def checkpointed(self, step: int) -> None:
        with transaction(self.conn):
            runs.checkpointed(self.conn, self.run_id, step)

    def failed(self, err: BaseException, kept_step: int) -> None:
        """Training raised: close the run as failed; steps after ``kept_step`` are lost."""
        lost = cut_lost_steps(self.folder, kept_step)
        with transaction(self.conn):
            runs.finish(
                self.conn,
                self.run_id,
                "failed",
                {"error": str(err), "lost_after_step": kept_step, "lost_records": lost},
            )
        self.event("train.failed", f"{self.path.name}: {err}", level="error")

    def finish(self, outcome: TrainOutcome, *, kept_step: int | None = None) -> TrainOutcome:
        """Close the run with its outcome (a ``TrainOutcome``): the row, the event, ``summary.json``.
        ``kept_step``: the run stopped after steps no checkpoint kept (NaN); cut them."""
        summary = {k: v for k, v in asdict(outcome).items() if k != "run_id"}
        if kept_step is not None:
            summary["lost_after_step"] = kept_step
            summary["lost_records"] = cut_lost_steps(self.folder, kept_step)
        summary = json.loads(json.dumps(summary, default=str))
        failed = outcome.status == "failed"
        with transaction(self.conn):
            runs.finish(self.conn, self.run_id, outcome.status, summary)
            emit(
                self.conn,
                "train.failed" if failed else "train.finished",
                outcome.message,
                level="error" if failed else "info",
                job_id=self.job_id,
                run_id=self.run_id,
                status=outcome.status,
                rows_trained=outcome.rows_trained,
                next_row=outcome.next_row,
                global_step=outcome.global_step,
                file=str(self.path),
            )
        atomic_write_json(self.folder.summary, summary)
        return outcome


def cut_lost_steps(folder: RunFolder, kept_step: int) -> int:
    """Move the records of steps after ``kept_step`` from ``metrics.jsonl`` to
    ``metrics.lost.jsonl``; returns how many moved."""
    if not folder.metrics.is_file():
        return 0
    kept: list[str] = []
    lost: list[str] = []
    for line in folder.metrics.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            step = json.loads(line).get("step")
        except ValueError:  # a line torn by the kill
            lost.append(line)
            continue
        (lost if isinstance(step, int) and step > kept_step else kept).append(line)
    if lost:
        with open(folder.path / LOST_METRICS, "a", encoding="utf-8") as f:
            f.write("".join(x + "\n" for x in lost))
        atomic_write_text(folder.metrics, "".join(x + "\n" for x in kept))
    return len(lost)


def _alive(meta: dict[str, Any]) -> bool:
    """Whether the process that started the run still runs it. This process runs none: it is
    about to start a training, and one process trains one file at a time."""
    import psutil

    pid = meta.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        proc = psutil.Process(pid)
        started = proc.create_time()
    except psutil.Error:
        return False
    return proc.status() != psutil.STATUS_ZOMBIE and started <= float(meta["started_at"]) + 1


def reconcile(ws: Workspace, conn: sqlite3.Connection, state: dict[str, Any] | None) -> list[str]:
    """Close every ``running`` run whose process is gone as ``killed`` and cut its lost steps.

    The steps kept are those of the lineage's saved checkpoint (``state``) when the run trained
    that lineage, else the run's last recorded checkpoint, else none of the run's.
    """
    closed = []
    for run in runs.running(conn):
        folder = RunFolder(Path(run.dir))
        try:
            meta = json.loads(folder.meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        if _alive(meta):
            continue
        if state is not None and state.get("lineage_id") == meta.get("lineage_id"):
            kept = int(state["global_step"])
        else:
            kept = int(run.summary.get("checkpoint_step", meta.get("global_step_start", 0)))
        lost = cut_lost_steps(folder, kept)
        summary = {**run.summary, "lost_after_step": kept, "lost_records": lost}
        message = (
            f"run {run.id} ended without closing (its process died); steps after {kept} were "
            f"lost and are trained again ({lost} metrics record(s) moved to {LOST_METRICS})"
        )
        with transaction(conn):
            runs.finish(conn, run.id, "killed", summary)
            emit(conn, "train.killed", message, level="warning", run_id=run.id, job_id=run.job_id)
        if folder.path.is_dir():
            atomic_write_json(folder.summary, {"status": "killed", "message": message, **summary})
        closed.append(run.id)
    return closed
