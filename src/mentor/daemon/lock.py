"""The PID lock: one daemon per workspace, with stale-lock detection.

``daemon.pid`` holds ``{"pid", "started", "host"}``. A lock whose process is gone (or whose pid
now belongs to a process started after the lock was written: pid reuse) is stale and taken over.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentor.errors import JobError
from mentor.monitor.processes import pid_alive
from mentor.paths import Workspace


def process_start_time(pid: int) -> float | None:
    """Wall-clock start time of a process (Linux /proc), None when unknown."""
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except Exception:
        return None


def read_lock(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def lock_holder(ws: Workspace) -> int | None:
    """The pid of the running daemon of this workspace, None when none (or the lock is stale)."""
    info = read_lock(ws.pid_file)
    if not info or is_stale(info):
        return None
    return int(info["pid"])


def is_stale(info: dict[str, Any]) -> bool:
    pid = int(info.get("pid") or 0)
    if info.get("host") not in (None, socket.gethostname()):
        return False  # another host's lock: never take it over silently
    if not pid_alive(pid):
        return True
    started = process_start_time(pid)
    written = info.get("started")
    # pid reuse: the process that holds this pid now started after the lock was written
    return started is not None and isinstance(written, int | float) and started > written + 5


@dataclass
class PidLock:
    ws: Workspace
    stale_taken: bool = False
    held: bool = False

    def acquire(self) -> PidLock:
        path = self.ws.pid_file
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                info = read_lock(path)
                if info is None:
                    # being written by another starter, or garbage: give it a moment
                    time.sleep(0.2)
                    info = read_lock(path)
                if info is not None and not is_stale(info):
                    raise JobError(
                        f"{path}: the daemon already runs (pid {info.get('pid')})",
                        hint="stop it with `mentor stop`",
                    ) from None
                path.unlink(missing_ok=True)
                self.stale_taken = True
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(
                    {"pid": os.getpid(), "started": time.time(), "host": socket.gethostname()}, f
                )
            self.held = True
            return self
        raise JobError(f"{path}: could not take the daemon lock")

    def release(self) -> None:
        if not self.held:
            return
        info = read_lock(self.ws.pid_file)
        if info and int(info.get("pid") or 0) == os.getpid():
            self.ws.pid_file.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> PidLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
