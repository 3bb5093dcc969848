"""The daemon's service loop: ``while not stopping: run_once(clock())``.

Each ``run_once(now)``: act on a control request; watch or collect the running child; take
settled inbox files (validated whole, queued or set aside); unless paused, start the next job
phase in a child (training, then evaluation: :mod:`mentor.daemon.jobflow`); when no job is
ready, idle work (:mod:`mentor.daemon.idle`). Every decision is an event in ``state.db``; the
daemon's state (kv and the status snapshot) follows it (:mod:`mentor.daemon.status`).

Pause and stop reach a running child through the control channel: a training checkpoints
within one step, an evaluation is cut within one decode step and runs again later. Until the
child has acted the daemon shows ``pausing`` or ``stopping``.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mentor import config as config_mod
from mentor import control
from mentor.daemon import eval_budget, files
from mentor.daemon.idle import IdleWork
from mentor.daemon.inbox import Inbox
from mentor.daemon.jobflow import JobFlow
from mentor.daemon.launcher import Child, Launcher, reap_orphan
from mentor.daemon.lock import PidLock
from mentor.daemon.queue import resume_paused
from mentor.daemon.status import BUSY, Board
from mentor.monitor.status import read_status
from mentor.paths import Workspace
from mentor.store import connect, events, jobs, kv
from mentor.store.kv import Key

log = logging.getLogger(__name__)

STOP_GRACE_S = 600.0  # a child that ignores stop this long is terminated
CLOSE_WAIT_S = 60.0  # on close, a child gets this long to checkpoint before SIGTERM


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
        self.inbox = Inbox(
            ws.inbox, self.cfg.daemon.settle_seconds, self.cfg.daemon.incomplete_grace_seconds
        )
        self.watch = watch
        self.tick = tick
        self.lock = PidLock(ws)
        self.board = Board(ws, self.conn)
        self.flow = JobFlow(ws, self.conn, self.board, self.cfg, clock)
        self.idle = IdleWork(ws, self.conn, self.board, self.cfg)
        self.child: Child | None = None
        self.stopping = False
        self.stop_reason: str | None = None
        self.stop_since: float | None = None
        self.paused = False
        self.disk_blocked = False
        self._tokenizer: Any = None
        self._tokenizer_path: Path | None = None
        self.started = False
        self._eval_logged: tuple[Any, float] = (None, 0.0)  # (items done, when) last logged

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
        reap_orphan(self.ws, self.conn)
        for job in jobs.listing(self.conn, states=("validating",)):
            files.validate_job(self.ws, self.cfg, self.conn, job, tokenizer=self.tokenizer)
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
        self.board.set("paused" if self.paused else "idle")

    def close(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.request_stop("close")
            deadline = time.time() + CLOSE_WAIT_S
            while self.child.poll() is None and time.time() < deadline:
                time.sleep(0.1)
            if self.child.poll() is None:
                self.child.proc.terminate()
                self.child.proc.wait(30)
        if self.child is not None:
            self._collect(self.clock())
        self.inbox.stop_watch()
        control.clear(self.ws, only="stop")
        self.board.set("stopped", error_message=None)
        if self.started:
            events.emit(
                self.conn, "daemon.stopped", f"daemon stopped ({self.stop_reason or 'exit'})"
            )
        kv.put(self.conn, Key.CHILD_PID, None)
        self.lock.release()
        self.conn.close()
        self.started = False

    def request_stop(self, reason: str = "stop") -> None:
        """Ask for a stop (signal handlers call this: files only, no database work).

        A training child checkpoints within one step, an evaluation is cut within one decode
        step (it reads the same request), the idle-time full suite is cut at once.
        """
        if self.stopping:
            return
        self.stopping = True
        self.stop_reason = reason
        self.stop_since = time.time()
        if self.child is not None:
            control.request(self.ws, "stop", reason)
            if self.child.mode == "evaluate-full":
                self.child.cut()

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
        self._control()
        if self.child is not None:
            if self.child.poll() is None:
                self._supervise(now)
                return self.tick
            self._collect(now)
        if self.stopping:
            return 0.0
        self._take_inbox(now)
        if self.paused:
            self.board.set("paused")
            return self.cfg.daemon.poll_seconds
        job, later = jobs.next_job(self.conn, now)
        if job is not None:
            if not self._disk_ok():
                return self.cfg.daemon.poll_seconds
            self._launch(job)
            return self.tick
        self._idle(now)
        wake = [self.cfg.daemon.poll_seconds]
        if later is not None:
            wake.append(max(0.0, later - now))
        nxt = self.inbox.next_settle()
        if nxt is not None:
            wake.append(max(0.05, nxt - now))
        return min(wake)

    def _supervise(self, now: float) -> None:
        """While a child runs: show a pending pause or stop, take files, cut the full suite."""
        child = self.child
        assert child is not None
        if self.stopping:
            self.board.set("stopping")
            if self.stop_since and time.time() - self.stop_since > STOP_GRACE_S:
                log.warning("child %s ignores stop; terminating it", child.proc.pid)
                child.proc.terminate()
        elif self.paused:
            self.board.set("pausing")
        if child.mode == "train" and child.job_id is not None:
            self._sync_rows(child.job_id)
        elif child.mode.startswith("evaluate"):
            self._log_eval_progress()
        self._take_inbox(now)
        if child.mode == "evaluate-full" and (
            self.paused or self.stopping or jobs.next_job(self.conn, now)[0] is not None
        ):
            child.cut()  # the full suite yields; it runs again when the daemon is idle

    def _log_eval_progress(self) -> None:
        """A line in the daemon's log when an evaluation's item count moved, at most every
        ``daemon.progress_log_seconds``."""
        ev = read_status(self.ws).get("evaluation")
        if not isinstance(ev, dict) or not ev.get("items_total"):
            return
        now = time.monotonic()
        done = ev.get("items_done")
        if done == self._eval_logged[0] or now - self._eval_logged[1] < (
            self.cfg.daemon.progress_log_seconds
        ):
            return
        self._eval_logged = (done, now)
        eta = ev.get("eta_s")
        log.info(
            "evaluating %s (%s): %s/%s items%s",
            ev.get("version"),
            ev.get("kind"),
            done,
            ev["items_total"],
            f", ETA {eta / 60:.1f} min" if isinstance(eta, int | float) else "",
        )

    def _sync_rows(self, job_id: int) -> None:
        """The job's row position follows the training's progress (``queue list`` and
        ``status`` read it from the job, one denominator: the rows the file trains)."""
        snap = read_status(self.ws)
        done, total = snap.get("next_row"), snap.get("rows_total")
        if not isinstance(done, int):
            return
        job = jobs.get(self.conn, job_id)
        if job.state == "training" and (done, total) != (job.rows_done, job.rows_total):
            jobs.update(
                self.conn,
                job_id,
                rows_done=done,
                **({"rows_total": total} if isinstance(total, int) and total else {}),
            )

    # ------------------------------------------------------------------ control
    def _control(self) -> None:
        req = control.read(self.ws)
        act = req.get("action") if req else None
        reason = str(req.get("reason") or "") if req else ""
        if act == "stop":
            self.request_stop(reason or "mentor stop")
        elif act == "pause" and not self.paused:
            self.paused = True
            events.emit(self.conn, "daemon.paused", "pause requested")
            if self.child is not None:
                self.board.set("pausing")
        elif act == "resume":
            self.paused = False
            control.clear(self.ws, only="resume")
            resume_paused(self.conn)
            events.emit(self.conn, "daemon.resumed", "resume requested")
            self.board.set(BUSY[self.child.mode] if self.child else "idle")
        elif act == "skip" and (self.child is None or self.child.mode != "train"):
            self._skip_waiting(reason)

    def _skip_waiting(self, reason: str) -> None:
        """Skip with no training running: the paused file, or one a stop interrupted."""
        paused = jobs.listing(self.conn, states=("paused",))
        target = paused[0] if paused else None
        if target is None and self.child is None:
            interrupted = jobs.listing(self.conn, states=("training",))
            target = interrupted[0] if interrupted else None
        if target is not None:
            self.flow.skip(target, reason=reason)
        else:
            events.emit(self.conn, "skip_ignored", "skip requested but no file is in training")
        control.clear(self.ws, only="skip")

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
        self.flow.cfg = self.idle.cfg = self.cfg
        self.inbox.settle = self.cfg.daemon.settle_seconds
        self.inbox.grace = self.cfg.daemon.incomplete_grace_seconds

    def _take_inbox(self, now: float) -> None:
        for path in self.inbox.settled(now):
            rel = self.inbox.rel(path)
            self.inbox.forget(path)
            if self.child is None:  # a running child keeps its state on the board
                self.board.set("validating", current_file=rel)
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
            if job.state == "failed":
                log.warning("inbox %s -> job %s (failed: %s)", rel, job.id, job.error)
            else:
                log.info("inbox %s -> job %s (%s)", rel, job.id, job.state)

    # ------------------------------------------------------------------ children
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
                self.board.alert(msg)
                log.error("%s", msg)
                self.disk_blocked = True
            self.board.set("blocked", error_message="disk guard: not enough free space")
            return False
        if self.disk_blocked:
            self.disk_blocked = False
            self.board.clear_alerts("disk guard")
            self.board.update(error_message=None)
        return True

    def _launch(self, job: jobs.Job) -> None:
        self.reload_config()
        if job.state == "evaluating" and job.version:
            short = job.version.split("_")[0]
            per_tier = self._quick_size(job)
            self.child = self.launcher.start(
                "evaluate", job=job, version=short, extra=[f"eval.quick_per_tier={per_tier}"]
            )
            self.board.set(
                "evaluating",
                current_file=job.name,
                evaluation={"kind": "quick", "version": short},
            )
            events.emit(
                self.conn,
                "job_evaluating",
                f"{job.name}: evaluating {job.version}",
                job_id=job.id,
                version=job.version,
            )
        else:
            first = job.state == "queued" and job.rows_done == 0
            jobs.update(
                self.conn, job.id, state="training", started_at=job.started_at or time.time()
            )
            self.child = self.launcher.start("train", job=job)
            self.board.set("training", current_file=job.name, error_message=None)
            events.emit(
                self.conn,
                "job_started" if first else "job_resumed_training",
                f"{job.name}: training" + ("" if first else f" resumes at row {job.rows_done}"),
                job_id=job.id,
                attempt=job.attempts + 1,
                pid=self.child.proc.pid,
            )
        kv.put(self.conn, Key.CHILD_PID, str(self.child.proc.pid))

    def _quick_size(self, job: jobs.Job) -> int:
        """Items per tier of this job's quick benchmark (:mod:`mentor.daemon.eval_budget`)."""
        trained = eval_budget.train_seconds(
            self.ws.status_dir / "jobs" / f"job{job.id}-train.outcome.json"
        )
        pace = eval_budget.pace(self.conn)
        n = eval_budget.quick_per_tier(self.cfg, trained, pace)
        if n != self.cfg.eval.quick_per_tier:
            events.emit(
                self.conn,
                "eval.sized",
                f"{job.name}: quick benchmark of {n} per tier (training took {trained:.0f}s, "
                f"{pace:.1f}s per item; eval.quick_budget_share "
                f"{self.cfg.eval.quick_budget_share})",
                job_id=job.id,
                per_tier=n,
                train_seconds=trained,
                seconds_per_item=pace,
            )
        return n

    def _idle(self, now: float) -> None:
        self.board.set("idle", current_file=None)
        task = self.idle.next(now, self._disk_ok)
        if task is None:
            return
        self.child = self.launcher.start(task.mode, version=task.version, reason=task.reason)
        kv.put(self.conn, Key.CHILD_PID, str(self.child.proc.pid))
        if task.mode == "evaluate-full":
            events.emit(
                self.conn,
                "full_suite.started",
                f"{task.version}: full suite (idle)",
                version=task.version,
            )
            self.board.set("evaluating", evaluation={"kind": "full_suite", "version": task.version})
        else:
            self.board.set(BUSY[task.mode])

    def _collect(self, now: float) -> None:
        child = self.child
        assert child is not None
        rc = child.wait()
        self.child = None
        kv.put(self.conn, Key.CHILD_PID, None)
        out = child.outcome()
        if child.mode == "consolidate":
            self.idle.after_consolidate(out, rc)
            self.reload_config()
            self.board.set("idle")
        elif child.mode == "evaluate-full":
            cut = self.stopping or child.cut_sent
            self.idle.after_full_suite(child.version or "", out, rc, cut=cut)
        elif child.job_id is not None and child.mode == "evaluate":
            eval_budget.record_pace(self.conn, out)
            job = jobs.get(self.conn, child.job_id)
            self.flow.after_eval(job, out, rc, stopping=self.stopping)
        elif child.job_id is not None:
            job = jobs.get(self.conn, child.job_id)
            status = self.flow.after_train(job, out, rc, now, stopping=self.stopping)
            if status == "disk_full":
                self.paused = True
                self.board.set("paused")
            elif status == "paused" and not self.paused:
                resume_paused(self.conn)  # resumed before the child saw it: train on
            elif status == "paused":
                self.board.set("paused")
