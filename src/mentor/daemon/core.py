"""The daemon: one loop, ``while not stopping: run_once(clock())``.

Each ``run_once(now)``: act on a control request; collect a finished child; take settled inbox
files (validated whole, queued or set aside); unless paused or busy, start the next job phase in
a child process (training, then evaluation); when idle, the daily snapshot, the scheduled
consolidation and retention. Every decision is an event in ``state.db``; the status snapshot
follows the daemon's state.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor import config as config_mod
from mentor import control
from mentor.daemon import backups, files, retention, versions
from mentor.daemon.base import rel_to_home
from mentor.daemon.inbox import Inbox
from mentor.daemon.lock import PidLock, pid_alive
from mentor.errors import MentorError
from mentor.monitor.status import StatusWriter
from mentor.paths import Workspace
from mentor.store import connect, events, jobs, kv
from mentor.store import versions as version_rows
from mentor.store.kv import Key
from mentor.train.lineage import read_state

log = logging.getLogger(__name__)

STOP_GRACE_S = 600.0  # a child that ignores stop this long is terminated


def evals_available() -> bool:
    try:
        return importlib.util.find_spec("mentor.evals.auto") is not None
    except (ImportError, ValueError):
        return False


@dataclass
class Child:
    proc: subprocess.Popen[bytes]
    job_id: int | None
    mode: str
    outcome_path: Path
    started: float
    version: str | None = None
    log_file: Any = None

    def poll(self) -> int | None:
        return self.proc.poll()

    def outcome(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.outcome_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data


@dataclass
class Launcher:
    """Starts ``python -m mentor.daemon.child`` in its own session (Ctrl-C reaches only the daemon)."""

    ws: Workspace
    overrides: list[str] = field(default_factory=list)
    train_fn: str = "mentor.train:train_file"

    def start(
        self,
        mode: str,
        *,
        job: jobs.Job | None = None,
        version: str | None = None,
        reason: str | None = None,
    ) -> Child:
        jid = job.id if job else None
        tag = f"job{jid}-{mode}" if jid else mode
        outcome = self.ws.status_dir / "jobs" / f"{tag}.outcome.json"
        outcome.parent.mkdir(parents=True, exist_ok=True)
        outcome.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "mentor.daemon.child",
            "--home",
            str(self.ws.home),
            "--mode",
            mode,
            "--outcome",
            str(outcome),
            "--parent",
            str(os.getpid()),
            "--train-fn",
            self.train_fn,
        ]
        if job is not None:
            cmd += ["--job", str(job.id), "--path", job.path, "--name", job.name]
        if version:
            cmd += ["--version", version]
        if reason:
            cmd += ["--reason", reason]
        for o in self.overrides:
            cmd += ["--set", o]
        self.ws.logs.mkdir(parents=True, exist_ok=True)
        logf = open(self.ws.logs / f"{tag}.log", "ab")  # noqa: SIM115 - closed when the child ends
        proc = subprocess.Popen(
            cmd,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=dict(os.environ),
        )
        return Child(proc, jid, mode, outcome, time.time(), version, logf)


def _hhmm_due(spec: str | None, now: float, last_day: str | None) -> bool:
    """True once a day at/after local HH:MM (``last_day``: the day it last ran)."""
    if not spec:
        return False
    try:
        hh, mm = (int(x) for x in spec.split(":"))
    except ValueError:
        return False
    t = time.localtime(now)
    today = time.strftime("%Y-%m-%d", t)
    return last_day != today and (t.tm_hour, t.tm_min) >= (hh, mm)


class Daemon:
    """The daemon of one workspace. ``run_once(now)`` is one pass; ``run()`` loops until stopped."""

    def __init__(
        self,
        ws: Workspace,
        *,
        overrides: list[str] | None = None,
        clock: Callable[[], float] = time.time,
        launcher: Launcher | None = None,
        watch: bool = True,
        tick: float = 0.25,
    ) -> None:
        self.ws = ws
        self.overrides = list(overrides or [])
        self.clock = clock
        self.cfg = config_mod.load(ws.config_file, self.overrides)
        for d in ws.layout():
            d.mkdir(parents=True, exist_ok=True)
        self.conn = connect(ws.db)
        self.launcher = launcher or Launcher(ws, self.overrides)
        self.inbox = Inbox(ws.inbox, self.cfg.daemon.settle_seconds)
        self.watch = watch
        self.tick = tick
        self.lock = PidLock(ws)
        self.status = StatusWriter(ws)
        self.child: Child | None = None
        self.stopping = False
        self.stop_reason: str | None = None
        self.stop_since: float | None = None
        self.paused = False
        self.disk_blocked = False
        self._tokenizer: Any = None
        self._tokenizer_path: Path | None = None
        self.started = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.lock.acquire()
        if self.lock.stale_taken:
            events.emit(
                self.conn, "daemon.stale_lock", "a stale PID lock was taken over", level="warning"
            )
        self.started = True
        control.clear(self.ws, only="stop")
        control.clear(self.ws, only="skip")
        self._reap_orphan()
        self._recover_validating()
        self.paused = control.action(self.ws) == "pause"
        if self.watch:
            self.inbox.start_watch()
        interrupted = jobs.listing(self.conn, states=jobs.ACTIVE)
        events.emit(
            self.conn,
            "daemon.started",
            f"daemon started (pid {os.getpid()})",
            pid=os.getpid(),
            resuming=[j.id for j in interrupted],
        )
        self._set_state("paused" if self.paused else "idle")

    def close(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.request_stop("close")
            deadline = time.time() + 60
            while self.child.poll() is None and time.time() < deadline:
                time.sleep(0.1)
            if self.child.poll() is None:
                self.child.proc.terminate()
                self.child.proc.wait(30)
        if self.child is not None:
            self._collect(self.clock())
        self.inbox.stop_watch()
        control.clear(self.ws, only="stop")
        self._set_state("stopped", error_message=None)
        if self.started:
            events.emit(
                self.conn, "daemon.stopped", f"daemon stopped ({self.stop_reason or 'exit'})"
            )
        kv.put(self.conn, Key.CHILD_PID, None)
        self.lock.release()
        self.conn.close()
        self.started = False

    def request_stop(self, reason: str = "stop") -> None:
        """Ask for a stop (signal handlers call this): the child checkpoints within one step."""
        if not self.stopping:
            self.stopping = True
            self.stop_reason = reason
            self.stop_since = time.time()
            if self.child is not None and self.child.mode == "train":
                control.request(self.ws, "stop", reason)

    def install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, frame: Any) -> None:
            self.request_stop(signal.Signals(signum).name)
            self.inbox.wake.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self, *, extra: Callable[[], None] | None = None) -> None:
        """The loop: ``while not stopping: run_once(clock())`` (and until the child is done)."""
        if not self.started:
            self.start()
        try:
            while True:
                wait = self.run_once(self.clock())
                if extra is not None:
                    extra()
                if self.stopping and self.child is None:
                    break
                self.inbox.wake.wait(max(0.05, min(wait, self.cfg.daemon.poll_seconds)))
                self.inbox.wake.clear()
        finally:
            self.close()

    # ------------------------------------------------------------------ one pass
    def run_once(self, now: float) -> float:
        """One pass of the daemon; returns how long the loop may sleep before the next."""
        self._control(now)
        if self.child is not None:
            if self.child.poll() is None:
                if (
                    self.stopping
                    and self.stop_since
                    and time.time() - self.stop_since > STOP_GRACE_S
                ):
                    log.warning("child %s ignores stop; terminating it", self.child.proc.pid)
                    self.child.proc.terminate()
                self._take_inbox(now)
                return self.tick
            self._collect(now)
        if self.stopping:
            return 0.0
        self._take_inbox(now)
        if self.paused:
            self._set_state("paused")
            return self.cfg.daemon.poll_seconds
        job, later = jobs.next_job(self.conn, now)
        if job is not None:
            if not self._disk_ok():
                return self.cfg.daemon.poll_seconds
            self._launch(job, now)
            return self.tick
        self._idle(now)
        wake = [self.cfg.daemon.poll_seconds]
        if later is not None:
            wake.append(max(0.0, later - now))
        nxt = self.inbox.next_settle()
        if nxt is not None:
            wake.append(max(0.05, nxt - now))
        return min(wake)

    # ------------------------------------------------------------------ control
    def _control(self, now: float) -> None:
        req = control.read(self.ws)
        act = req.get("action") if req else None
        if act == "stop":
            self.request_stop(str(req.get("reason") or "mentor stop") if req else "stop")
        elif act == "pause":
            if not self.paused:
                self.paused = True
                events.emit(self.conn, "daemon.paused", "pause requested")
        elif act == "resume":
            self.paused = False
            control.clear(self.ws, only="resume")
            for job in jobs.listing(self.conn, states=("paused",)):
                jobs.update(self.conn, job.id, state="queued", not_before=0)
                events.emit(self.conn, "job_resumed", f"{job.name}: resumed", job_id=job.id)
            events.emit(self.conn, "daemon.resumed", "resume requested")
            self._set_state("idle")
        elif act == "skip" and (self.child is None or self.child.mode != "train"):
            paused = jobs.listing(self.conn, states=("paused",))
            target = paused[0] if paused else None
            if target is None:
                interrupted = [j for j in jobs.listing(self.conn, states=("training",))]
                target = interrupted[0] if interrupted and self.child is None else None
            if target is not None:
                self._skip(target, reason=str(req.get("reason") or "") if req else "")
            else:
                events.emit(self.conn, "skip_ignored", "skip requested but no file is in training")
            control.clear(self.ws, only="skip")

    def _skip(
        self,
        job: jobs.Job,
        *,
        reason: str,
        next_row: int | None = None,
        rows_total: int | None = None,
    ) -> None:
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

    # ------------------------------------------------------------------ inbox
    def tokenizer(self) -> Any:
        from mentor.models.loader import load_tokenizer

        path = self.cfg.model_path(self.ws.home)
        if self._tokenizer is None or self._tokenizer_path != path:
            self._tokenizer = load_tokenizer(path)
            self._tokenizer_path = path
        return self._tokenizer

    def reload_config(self) -> None:
        self.cfg = config_mod.load(self.ws.config_file, self.overrides)
        self.inbox.settle = self.cfg.daemon.settle_seconds

    def _take_inbox(self, now: float) -> None:
        for path in self.inbox.settled(now):
            rel = self.inbox.rel(path)
            self.inbox.forget(path)
            try:
                job = files.admit(
                    self.ws,
                    self.cfg,
                    self.conn,
                    path,
                    name=rel,
                    priority=jobs.priority_value(self.cfg.daemon.default_priority),
                    tokenizer=self.tokenizer,
                )
            except FileNotFoundError:
                continue  # removed meanwhile
            log.info("inbox %s -> job %s (%s)", rel, job.id, job.state)

    def _recover_validating(self) -> None:
        for job in jobs.listing(self.conn, states=("validating",)):
            files.validate_job(self.ws, self.cfg, self.conn, job, tokenizer=self.tokenizer)

    # ------------------------------------------------------------------ jobs
    def _disk_ok(self) -> bool:
        free = shutil.disk_usage(self.ws.home).free / 2**30
        need = self.cfg.daemon.min_free_gib
        if free < need:
            if not self.disk_blocked:
                msg = f"disk guard: {free:.1f} GiB free < daemon.min_free_gib {need} GiB; training not started"
                events.emit(
                    self.conn,
                    "alert.disk_low",
                    msg,
                    level="error",
                    free_gib=free,
                    min_free_gib=need,
                )
                self.status.alert(msg)
                log.error("%s", msg)
                self.disk_blocked = True
            self._set_state("blocked", error_message="disk guard: not enough free space")
            return False
        if self.disk_blocked:
            self.disk_blocked = False
            self.status.update(
                active_alerts=[
                    a
                    for a in self.status.state.get("active_alerts") or []
                    if not a.startswith("disk guard")
                ],
                error_message=None,
            )
        return True

    def _launch(self, job: jobs.Job, now: float) -> None:
        self.reload_config()
        if job.state == "evaluating" and job.version:
            self.child = self.launcher.start("evaluate", job=job, version=job.version.split("_")[0])
            self._set_state("evaluating", current_file=job.name)
            events.emit(
                self.conn,
                "job_evaluating",
                f"{job.name}: evaluating {job.version}",
                job_id=job.id,
                version=job.version,
            )
        else:
            first = job.state == "queued"
            jobs.update(
                self.conn, job.id, state="training", started_at=job.started_at or time.time()
            )
            self.child = self.launcher.start("train", job=job)
            self._set_state("training", current_file=job.name, error_message=None)
            events.emit(
                self.conn,
                "job_started" if first else "job_resumed_training",
                f"{job.name}: training" + ("" if first else f" resumes at row {job.rows_done}"),
                job_id=job.id,
                attempt=job.attempts + 1,
                pid=self.child.proc.pid,
            )
        kv.put(self.conn, Key.CHILD_PID, str(self.child.proc.pid))

    def _collect(self, now: float) -> None:
        child = self.child
        assert child is not None
        rc = child.proc.wait()
        if child.log_file is not None:
            child.log_file.close()
        self.child = None
        kv.put(self.conn, Key.CHILD_PID, None)
        out = child.outcome()
        if child.mode == "consolidate":
            self._after_consolidate(out, rc)
            return
        if child.job_id is None:
            return
        job = jobs.get(self.conn, child.job_id)
        if child.mode == "evaluate":
            self._after_eval(job, out, rc)
        else:
            self._after_train(job, out, rc, now)

    def _after_train(self, job: jobs.Job, out: dict[str, Any] | None, rc: int, now: float) -> None:
        if out is None:
            if self.stopping and rc in (-signal.SIGTERM, -signal.SIGINT):
                return  # stopped before training began: resumes on the next start
            self._failed(job, f"training process exited with code {rc} without a result", now)
            return
        status = out.get("status")
        next_row = int(out.get("next_row") or 0)
        total = int(out.get("rows_total") or job.rows_total or 0)
        upd: dict[str, Any] = {"rows_done": next_row, "run_id": out.get("run_id") or job.run_id}
        if total:
            upd["rows_total"] = total
        self._status_from_outcome(out)
        if status == "completed":
            job = jobs.update(self.conn, job.id, state="evaluating", error=None, **upd)
            self._make_version(job, out)
        elif status == "paused":
            jobs.update(self.conn, job.id, state="paused", **upd)
            self.paused = True
            events.emit(
                self.conn,
                "job_paused",
                out.get("message") or f"{job.name}: paused",
                job_id=job.id,
                next_row=next_row,
                rows_total=total,
            )
            self._set_state("paused")
        elif status == "stopped":
            jobs.update(self.conn, job.id, **upd)  # stays in 'training': resumes on the next start
            events.emit(
                self.conn,
                "job_stopped",
                out.get("message") or f"{job.name}: stopped",
                job_id=job.id,
                next_row=next_row,
                rows_total=total,
            )
        elif status == "skipped":
            req = control.read(self.ws)
            reason = str(req.get("reason") or "") if req and req.get("action") == "skip" else ""
            control.clear(self.ws, only="skip")
            jobs.update(self.conn, job.id, **upd)
            self._skip(
                jobs.get(self.conn, job.id), reason=reason, next_row=next_row, rows_total=total
            )
        else:
            msg = str(out.get("message") or f"training ended with status {status}")
            self._failed(job, msg, now, permanent=bool(out.get("permanent")), **upd)

    def _failed(
        self, job: jobs.Job, message: str, now: float, *, permanent: bool = False, **upd: Any
    ) -> None:
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
            self.status.update(error_message=message)
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

    def _make_version(self, job: jobs.Job, out: dict[str, Any]) -> None:
        state = read_state(self.ws)
        if not (self.ws.current / "adapter_config.json").is_file() and not any(
            self.ws.current.glob("*.safetensors")
        ):
            self._finish(job, None)
            return
        last = version_rows.latest(self.conn)
        if int(out.get("rows_trained") or 0) == 0 and last is not None:
            man = versions.manifest(self.ws, last)
            if man.get("steps") == out.get("global_step") and man.get("lineage_id") == (
                state or {}
            ).get("lineage_id"):
                self._finish(job, None)  # nothing new was trained
                return
        stem = Path(job.name).name.removesuffix(".jsonl")
        v = versions.create(
            self.ws,
            self.conn,
            description=stem,
            lineage_dir=self.ws.current,
            lineage_id=(state or {}).get("lineage_id"),
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
        if not evals_available():
            version_rows.set_metrics(self.conn, v.name, {}, status="serving")
            kv.put(self.conn, Key.SERVING_VERSION, v.short)
            events.emit(
                self.conn,
                "version_promoted",
                f"{v.short} serves (no evaluation installed)",
                version=v.name,
            )
            self._finish(jobs.get(self.conn, job.id), v.name)
        retention.apply(self.ws, self.conn, self.cfg)

    def _after_eval(self, job: jobs.Job, out: dict[str, Any] | None, rc: int) -> None:
        name = job.version or ""
        if out is None or out.get("status") != "evaluated":
            msg = (out or {}).get("message") or f"evaluation process exited with code {rc}"
            if self.stopping and out is None:
                return  # evaluated again on the next start
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
                f"{name}: evaluation failed: {msg}",
                level="error",
                job_id=job.id,
                version=name,
            )
            self._finish(job, name, error=f"evaluation failed: {msg}")
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
        self.status.update(
            last_eval={
                "version": v.short,
                "metrics": metrics,
                "promoted": promote,
                "reason": out.get("reason"),
            }
        )
        self._finish(job, v.name)

    def _finish(self, job: jobs.Job, version: str | None, error: str | None = None) -> None:
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
        self._set_state("idle", current_file=None)

    def _status_from_outcome(self, out: dict[str, Any]) -> None:
        m = out.get("metrics") or {}
        self.status.update(
            current_step=out.get("global_step"),
            loss=m.get("loss"),
            validation_loss=m.get("val_loss"),
            tokens_per_sec=m.get("tokens_per_s"),
            error_message=out.get("message") if out.get("status") == "failed" else None,
        )

    # ------------------------------------------------------------------ idle work
    def _idle(self, now: float) -> None:
        self._set_state("idle", current_file=None)
        d = self.cfg.daemon
        today = time.strftime("%Y-%m-%d", time.localtime(now))
        if _hhmm_due(d.snapshot_at, now, kv.get(self.conn, Key.LAST_SNAPSHOT_DAY)):
            kv.put(self.conn, Key.LAST_SNAPSHOT_DAY, today)
            self.snapshot()
        requested = kv.get(self.conn, Key.CONSOLIDATE_REQUEST)
        due = _hhmm_due(d.consolidate_at, now, kv.get(self.conn, Key.LAST_CONSOLIDATION_DAY))
        if requested or due:
            kv.put(self.conn, Key.CONSOLIDATE_REQUEST, None)
            kv.put(self.conn, Key.LAST_CONSOLIDATION_DAY, today)
            state = read_state(self.ws)
            if state and (self.ws.current / "adapter_config.json").is_file():
                from mentor.daemon.consolidate import in_progress_files

                if in_progress_files(state):
                    events.emit(
                        self.conn,
                        "consolidation_deferred",
                        "consolidation deferred: a file is part-trained",
                        level="warning",
                    )
                elif self._disk_ok():
                    self.child = self.launcher.start(
                        "consolidate", reason="manual" if requested else "daily"
                    )
                    kv.put(self.conn, Key.CHILD_PID, str(self.child.proc.pid))
                    self._set_state("consolidating")

    def snapshot(self) -> backups.Backup:
        b = backups.create(
            self.ws,
            self.conn,
            {"current": self.ws.current, "mentor.yaml": self.ws.config_file},
            reason="daily-snapshot",
            include_db=True,
        )
        return b

    def _after_consolidate(self, out: dict[str, Any] | None, rc: int) -> None:
        if out is None or out.get("status") != "consolidated":
            msg = (out or {}).get("message") or f"consolidation process exited with code {rc}"
            events.emit(self.conn, "consolidation_failed", str(msg), level="error")
            self.status.alert(f"consolidation failed: {msg}")
        self.reload_config()
        self._set_state("idle")

    # ------------------------------------------------------------------ recovery
    def _reap_orphan(self) -> None:
        """A child left by a daemon that was killed: let it checkpoint and stop before we go on."""
        raw = kv.get(self.conn, Key.CHILD_PID)
        if not raw:
            return
        pid = int(raw)
        if pid_alive(pid) and _is_child(pid):
            log.warning(
                "a training child of the previous daemon (pid %s) still runs; stopping it", pid
            )
            control.request(self.ws, "stop", "orphaned child")
            deadline = time.time() + 120
            while pid_alive(pid) and time.time() < deadline:
                time.sleep(0.2)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
            control.clear(self.ws, only="stop")
            events.emit(
                self.conn, "daemon.orphan_stopped", f"orphaned child {pid} stopped", level="warning"
            )
        kv.put(self.conn, Key.CHILD_PID, None)

    # ------------------------------------------------------------------ status
    def _set_state(self, state: str, **fields: Any) -> None:
        if kv.get(self.conn, Key.DAEMON_STATE) != state:
            kv.put(self.conn, Key.DAEMON_STATE, state)
            self.status.update(status=state, **fields)
            self.status.flush()
        elif fields:
            self.status.update(**fields)


def _is_child(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"mentor.daemon.child" in f.read()
    except OSError:
        return False
