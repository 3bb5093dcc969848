"""One supervisor for ``mentor up``: the daemon in this process, ``mentor serve`` as a child.

The server is restarted if it dies (with a doubling backoff, capped at a minute) and stopped when
the daemon exits, or when ``mentor up`` itself dies (even by SIGKILL: the kernel sends the server
SIGTERM, ``PR_SET_PDEATHSIG``). No other helper processes exist: one process tree, one owner.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


def die_with_parent() -> None:
    """Ask the kernel for SIGTERM when the parent dies (Linux; elsewhere a no-op). Called in a
    child: after fork in ``preexec_fn``, or first thing in the daemon's children."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Supervised:
    cmd: list[str]
    log_path: Path
    name: str = "serve"
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    backoff: float = 1.0
    events: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
            env=dict(os.environ),
        )
        logf.close()
        self.events.append(f"started pid {self.proc.pid}")

    def check(self, now: float | None = None) -> None:
        """Restart the process if it died (called every daemon loop)."""
        now = time.monotonic() if now is None else now
        if self.proc is None:
            if now >= self.next_start:
                self.start()
            return
        rc = self.proc.poll()
        if rc is None:
            if now - self.next_start > 60:
                self.backoff = 1.0  # ran a minute: reset the backoff
            return
        log.warning("%s exited with %s; restarting in %.0fs", self.name, rc, self.backoff)
        self.events.append(f"exited {rc}")
        self.proc = None
        self.restarts += 1
        self.next_start = now + self.backoff
        self.backoff = min(60.0, self.backoff * 2)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
