"""Launching and reaping the daemon's children: one process per job phase or idle task.

:class:`Launcher` starts ``python -m mentor.daemon.child`` in its own session (Ctrl-C reaches
only the daemon) with its log in ``logs/`` and its result in ``status/jobs/*.outcome.json``;
:class:`Child` is the handle the daemon polls. :func:`reap_orphan` stops a child that a killed
daemon left running before a new daemon starts its own.

With ``training.gpus > 1`` a training child is torchrun (or ``accelerate launch``) running
``mentor.daemon.child`` as that many ranks (:mod:`mentor.train.distributed`): SIGTERM to it
reaches every rank, and a kill takes the ranks below it too.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mentor import config as config_mod
from mentor import control
from mentor.daemon.child import FUNCTIONS
from mentor.monitor.processes import pid_alive
from mentor.paths import Workspace
from mentor.store import events, jobs, kv
from mentor.store.kv import Key
from mentor.train import distributed

log = logging.getLogger(__name__)

ORPHAN_GRACE_S = 120.0  # an orphaned child gets this long to checkpoint before SIGKILL


@dataclass
class Child:
    """A running child: its process, what it works on, where its outcome will be."""

    proc: subprocess.Popen[bytes]
    job_id: int | None
    mode: str
    outcome_path: Path
    started: float
    version: str | None = None
    log_file: IO[bytes] | None = None
    cut_sent: bool = False  # the daemon cut it: no outcome is a cut, not a crash

    def poll(self) -> int | None:
        return self.proc.poll()

    def outcome(self) -> dict[str, Any] | None:
        """The child's result; None when it wrote none (it crashed or was killed)."""
        try:
            data: dict[str, Any] = json.loads(self.outcome_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data

    def cut(self) -> None:
        """SIGTERM: a training checkpoints and stops, an evaluation is cut at the next step."""
        if self.proc.poll() is None and not self.cut_sent:
            self.cut_sent = True
            self.proc.terminate()

    def wait(self) -> int:
        """Wait for the exit; close the log."""
        rc = self.proc.wait()
        if self.log_file is not None:
            self.log_file.close()
        return rc


@dataclass
class Launcher:
    """Starts children; ``functions`` overrides what a mode calls (tests pass stand-ins)."""

    ws: Workspace
    overrides: list[str] = field(default_factory=list)
    functions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.functions = {**FUNCTIONS, **self.functions}

    def start(
        self,
        mode: str,
        *,
        job: jobs.Job | None = None,
        version: str | None = None,
        reason: str | None = None,
        extra: list[str] | None = None,
    ) -> Child:
        """``extra``: config overrides of this child only (after the daemon's own)."""
        jid = job.id if job else None
        tag = f"job{jid}-{mode}" if jid else mode
        outcome = self.ws.status_dir / "jobs" / f"{tag}.outcome.json"
        outcome.parent.mkdir(parents=True, exist_ok=True)
        outcome.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "mentor.daemon.child", "--home", str(self.ws.home)]
        cmd += ["--mode", mode, "--outcome", str(outcome), "--parent", str(os.getpid())]
        cmd += ["--fn", self.functions[mode]]
        if job is not None:
            cmd += ["--job", str(job.id), "--path", job.path, "--name", job.name]
        if version:
            cmd += ["--version", version]
        if reason:
            cmd += ["--reason", reason]
        for o in [*self.overrides, *(extra or [])]:
            cmd += ["--set", o]
        if mode == "train":
            cmd = self._ranks(cmd)
        self.ws.logs.mkdir(parents=True, exist_ok=True)
        logf = open(self.ws.logs / f"{tag}.log", "ab")  # noqa: SIM115 - closed by Child.wait
        proc = subprocess.Popen(
            cmd,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=dict(os.environ),
        )
        return Child(proc, jid, mode, outcome, time.time(), version, logf)

    def _ranks(self, cmd: list[str]) -> list[str]:
        """The training child as ``training.gpus`` ranks (a config that does not load leaves
        one child, which reports the error as its outcome)."""
        try:
            t = config_mod.load(self.ws.config_file, self.overrides).training
        except Exception:
            return cmd
        if t.gpus <= 1:
            return cmd
        return distributed.launch_command(
            "mentor.daemon.child",
            cmd[3:],
            nproc=t.gpus,
            accelerate_config=t.accelerate_config,
            shutdown_grace_s=ORPHAN_GRACE_S,
            python=cmd[0],
        )


def reap_orphan(ws: Workspace, conn: sqlite3.Connection) -> None:
    """A child left by a daemon that was killed: let it checkpoint and stop before we go on."""
    raw = kv.get(conn, Key.CHILD_PID)
    if not raw:
        return
    pid = int(raw)
    if pid_alive(pid) and is_child(pid):
        log.warning("a child of the previous daemon (pid %s) still runs; stopping it", pid)
        control.request(ws, "stop", "orphaned child")
        deadline = time.time() + ORPHAN_GRACE_S
        while pid_alive(pid) and time.time() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            distributed.kill_tree(pid, signal.SIGKILL)  # and the ranks of a multi-GPU child
        control.clear(ws, only="stop")
        events.emit(conn, "daemon.orphan_stopped", f"orphaned child {pid} stopped", level="warning")
    kv.put(conn, Key.CHILD_PID, None)


def is_child(pid: int) -> bool:
    """Whether ``pid`` runs ``mentor.daemon.child`` (a pid may have been reused)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"mentor.daemon.child" in f.read()
    except OSError:
        return False
