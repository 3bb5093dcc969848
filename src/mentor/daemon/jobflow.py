"""The job state machine: what happens to a job after each of its phases.

``queued -> training -> (version) -> evaluating -> done``; a training child ends ``completed``
(a version is made and the job waits for its evaluation), ``paused`` (the job keeps its row),
``stopped`` (queued again with its row: resumed on the next start), ``skipped`` (its remaining
rows recorded) or ``failed`` (retried with a doubling backoff, then set aside in
``data/failed/``). An evaluation ends ``evaluated`` (promoted or refused by the gate, then the
file is archived), ``interrupted`` (a pause or stop cut it: the job stays ``evaluating`` and is
evaluated again) or failed (retried; after the last attempt the job finishes with the error).
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mentor import control
from mentor.config import Config
from mentor.daemon import files, versions
from mentor.daemon.base_model import rel_to_home
from mentor.daemon.status import Board
from mentor.errors import MentorError
from mentor.paths import Workspace
from mentor.store import events, jobs, kv
from mentor.store import versions as version_rows
from mentor.store.kv import Key
from mentor.train.lineage import read_state


class JobFlow:
    """Acts on a finished child's outcome for its job (the daemon calls it on collecting)."""

    def __init__(
        self,
        ws: Workspace,
        conn: sqlite3.Connection,
        board: Board,
        cfg: Config,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ws = ws
        self.conn = conn
        self.board = board
        self.cfg = cfg  # the daemon replaces it when it reloads the config
        self.clock = clock

    # ------------------------------------------------------------------ training
    def after_train(
        self,
        job: jobs.Job,
        out: dict[str, Any] | None,
        rc: int,
        now: float,
        *,
        stopping: bool = False,
    ) -> str:
        """Act on a training outcome; returns its status (``paused``: the daemon pauses)."""
        if out is None:
            if stopping and rc in (-signal.SIGTERM, -signal.SIGINT):
                jobs.update(self.conn, job.id, state="queued")  # resumes on the next start
                return "stopped"
            self.failed(job, f"training process exited with code {rc} without a result", now)
            return "failed"
        if out.get("disk_full"):
            return self.disk_full(job, str(out.get("message") or "no space left on device"))
        status = str(out.get("status"))
        next_row = int(out.get("next_row") or 0)
        total = int(out.get("rows_total") or job.rows_total or 0)
        upd: dict[str, Any] = {"rows_done": next_row, "run_id": out.get("run_id") or job.run_id}
        if total:
            upd["rows_total"] = total
        self._status_from_outcome(out)
        if status == "skipped" and total and next_row >= total:
            # the skip came at the last step: every row is trained, so the file is finished
            control.clear(self.ws, only="skip")
            events.emit(
                self.conn,
                "skip_at_end",
                f"{job.name}: skip arrived at the last step; every row is trained, the file "
                "is finished",
                job_id=job.id,
            )
            status = "completed"
        if status == "completed":
            job = jobs.update(self.conn, job.id, state="evaluating", error=None, **upd)
            self.make_version(job, out)
        elif status in ("paused", "stopped"):
            # paused: waits for resume; stopped: queued again (it keeps its row), so no job
            # shows 'training' while nothing trains
            jobs.update(
                self.conn, job.id, **upd, state="paused" if status == "paused" else "queued"
            )
            events.emit(
                self.conn,
                f"job_{status}",
                out.get("message") or f"{job.name}: {status}",
                job_id=job.id,
                next_row=next_row,
                rows_total=total,
            )
        elif status == "skipped":
            req = control.read(self.ws)
            reason = str(req.get("reason") or "") if req and req.get("action") == "skip" else ""
            control.clear(self.ws, only="skip")
            jobs.update(self.conn, job.id, **upd)
            self.skip(
                jobs.get(self.conn, job.id), reason=reason, next_row=next_row, rows_total=total
            )
        else:
            msg = str(out.get("message") or f"training ended with status {status}")
            self.failed(job, msg, now, permanent=bool(out.get("permanent")), **upd)
        return status

    def skip(
        self,
        job: jobs.Job,
        *,
        reason: str,
        next_row: int | None = None,
        rows_total: int | None = None,
    ) -> None:
        """Archive a file that will not be trained further; its remaining rows are recorded."""
        done = next_row if next_row is not None else job.rows_done
        total = rows_total if rows_total is not None else (job.rows_total or 0)
        remaining = max(0, total - done)
        note = {
            "job_id": job.id,
            "skipped": True,
            "reason": reason,
            "rows_trained": done,
            "rows_total": total,
            "remaining_rows": remaining,
            "ts": time.time(),
        }
        dest = files.archive_done(self.ws, Path(job.path), job.name, note=note)
        jobs.update(
            self.conn,
            job.id,
            state="skipped",
            rows_done=done,
            path=str(dest),
            error=f"skipped at row {done}/{total}" + (f": {reason}" if reason else ""),
            finished_at=time.time(),
        )
        events.emit(
            self.conn,
            "job_skipped",
            f"{job.name}: skipped, {remaining} rows not trained",
            job_id=job.id,
            remaining_rows=remaining,
            rows_trained=done,
            reason=reason,
        )

    def disk_full(self, job: jobs.Job, message: str) -> str:
        """The disk filled up under training: pause the daemon (a pause request, so it holds
        across restarts) with an alert, and keep the job at its last checkpoint; retrying would
        only fail again. ``mentor resume`` once space is free."""
        control.request(self.ws, "pause", reason="disk full")
        jobs.update(self.conn, job.id, state="paused", error=message)
        text = (
            f"{job.name}: the disk is full ({message}); the daemon paused, the job keeps its last "
            f"checkpoint -- free space under {self.ws.home}, then `mentor resume`"
        )
        events.emit(self.conn, "disk_full", text, level="error", job_id=job.id)
        self.board.alert(text)
        return "disk_full"

    def failed(
        self, job: jobs.Job, message: str, now: float, *, permanent: bool = False, **upd: Any
    ) -> None:
        """Retry later with a doubling backoff, or set the file aside after the last attempt."""
        attempts = job.attempts + 1
        if permanent or attempts >= self.cfg.daemon.max_attempts:
            stored = files.set_aside(
                self.ws,
                Path(job.path),
                job.name,
                [message],
                job_id=job.id,
                extra={"attempts": attempts},
            )
            jobs.update(
                self.conn,
                job.id,
                state="failed",
                attempts=attempts,
                error=message,
                path=str(stored),
                finished_at=time.time(),
                **upd,
            )
            events.emit(
                self.conn,
                "job_failed",
                f"{job.name}: {message}",
                level="error",
                job_id=job.id,
                attempts=attempts,
                stored_as=str(stored),
            )
            self.board.update(error_message=message)
            return
        delay = self.cfg.daemon.backoff_seconds * 2 ** (attempts - 1)
        jobs.update(
            self.conn, job.id, attempts=attempts, error=message, not_before=now + delay, **upd
        )
        events.emit(
            self.conn,
            "job_retry",
            f"{job.name}: {message}; retry {attempts + 1} in {delay:.0f}s",
            level="warning",
            job_id=job.id,
            attempts=attempts,
            delay_s=delay,
        )

    def make_version(self, job: jobs.Job, out: dict[str, Any]) -> None:
        """Copy the trained lineage into a new version; the job then waits for its evaluation."""
        state = read_state(self.ws) or {}
        if not (self.ws.current / "adapter_config.json").is_file() and not any(
            self.ws.current.glob("*.safetensors")
        ):
            self.finish(job, None)
            return
        last = version_rows.latest(self.conn)
        if int(out.get("rows_trained") or 0) == 0 and last is not None:
            man = versions.manifest(self.ws, last)
            if man.get("steps") == out.get("global_step") and man.get("lineage_id") == state.get(
                "lineage_id"
            ):
                self.finish(job, None)  # nothing new was trained
                return
        v = versions.create(
            self.ws,
            self.conn,
            description=Path(job.name).name.removesuffix(".jsonl"),
            lineage_dir=self.ws.current,
            lineage_id=state.get("lineage_id"),
            base=rel_to_home(self.ws, self.cfg.model_path(self.ws.home)),
            data=[
                {
                    "file": job.name,
                    "hash": out.get("file_hash") or job.file_hash,
                    "rows": out.get("rows_total"),
                    "run_id": out.get("run_id"),
                }
            ],
            steps=out.get("global_step"),
            metrics={
                k: v
                for k, v in (out.get("metrics") or {}).items()
                if isinstance(v, int | float | str | None)
            },
            job_id=job.id,
        )
        jobs.update(self.conn, job.id, version=v.name)

    # ------------------------------------------------------------------ evaluation
    def after_eval(
        self, job: jobs.Job, out: dict[str, Any] | None, rc: int, *, stopping: bool = False
    ) -> None:
        """Promote or refuse the version by the gate's verdict, then finish the job."""
        name = job.version or ""
        if stopping and out is None:
            return  # killed while the daemon stops: evaluated again on the next start
        if out is not None and out.get("status") == "interrupted":
            events.emit(
                self.conn,
                "eval_interrupted",
                f"{job.name}: evaluation of {name} cut ({out.get('cut_by')}); it runs again",
                job_id=job.id,
                version=name,
            )
            return  # the job stays 'evaluating': evaluated again on resume or the next start
        if out is None or out.get("status") != "evaluated":
            self._eval_failed(job, out, rc)
            return
        metrics = out.get("metrics") or {}
        promote = bool(out.get("promote"))
        v = version_rows.resolve(self.conn, name)
        version_rows.set_metrics(
            self.conn, v.name, metrics, status="serving" if promote else "refused"
        )
        if promote:
            prev = kv.get(self.conn, Key.SERVING_VERSION)
            if prev and prev != v.short:
                with contextlib.suppress(MentorError):
                    version_rows.set_metrics(self.conn, prev, {}, status="retired")
            kv.put(self.conn, Key.SERVING_VERSION, v.short)
            events.emit(
                self.conn,
                "version_promoted",
                f"{v.short} promoted: {out.get('reason')}",
                version=v.name,
                previous=prev,
            )
        self.board.update(
            last_eval={
                "version": v.short,
                "metrics": metrics,
                "promoted": promote,
                "reason": out.get("reason"),
            }
        )
        self.finish(job, v.name)

    def _eval_failed(self, job: jobs.Job, out: dict[str, Any] | None, rc: int) -> None:
        msg = (out or {}).get("message") or f"evaluation process exited with code {rc}"
        attempts = job.attempts + 1
        if attempts < self.cfg.daemon.max_attempts:
            jobs.update(
                self.conn,
                job.id,
                attempts=attempts,
                error=str(msg),
                not_before=self.clock() + self.cfg.daemon.backoff_seconds,
            )
            events.emit(
                self.conn, "eval_retry", f"{job.name}: {msg}", level="warning", job_id=job.id
            )
            return
        events.emit(
            self.conn,
            "eval_failed",
            f"{job.version}: evaluation failed: {msg}",
            level="error",
            job_id=job.id,
            version=job.version,
        )
        self.finish(job, job.version, error=f"evaluation failed: {msg}")

    def finish(self, job: jobs.Job, version: str | None, error: str | None = None) -> None:
        """The file is done: archived with a note, the job final, the daemon idle."""
        note = {
            "job_id": job.id,
            "version": version,
            "rows_total": job.rows_total,
            "ts": time.time(),
        }
        dest = files.archive_done(self.ws, Path(job.path), job.name, note=note)
        jobs.update(
            self.conn,
            job.id,
            state="done",
            path=str(dest),
            version=version,
            error=error,
            finished_at=time.time(),
        )
        events.emit(
            self.conn,
            "job_finished",
            f"{job.name}: done" + (f" -> {version}" if version else ""),
            job_id=job.id,
            version=version,
            stored_as=str(dest),
        )
        self.board.set("idle", current_file=None)

    def _status_from_outcome(self, out: dict[str, Any]) -> None:
        m = out.get("metrics") or {}
        self.board.update(
            current_step=out.get("global_step"),
            loss=m.get("loss"),
            validation_loss=m.get("val_loss"),
            tokens_per_sec=m.get("tokens_per_s"),
            error_message=out.get("message") if out.get("status") == "failed" else None,
        )
