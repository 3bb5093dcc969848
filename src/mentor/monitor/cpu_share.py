"""CPU cores divided among the mentor processes that compute at once.

Every CPU-heavy mentor process (a training or evaluation child, ``mentor train``) registers its
pid as a file in one registry folder while it works; each sets
``torch.set_num_threads(max(1, cores // busy))`` when it starts and again (at most every
``interval`` seconds) between optimizer or decode steps, so a second process arriving makes the
first shrink within seconds and its end lets the other grow back. Without this every process
takes every core and the threads thrash: two trainings at once took ~6x as long each as one
alone on 2 cores (docs/performance.md has the measurement).

The registry is per machine and user (``$MENTOR_CPU_REGISTRY``, default
``<tmp>/mentor-cpu-<uid>``): processes of several workspaces share the same cores. Files of
dead pids are removed when counted. ``MENTOR_CPU_SHARE=0`` turns sharing off (each process
keeps torch's default).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from mentor.monitor.processes import pid_alive


def registry_dir() -> Path:
    env = os.environ.get("MENTOR_CPU_REGISTRY")
    return Path(env) if env else Path(tempfile.gettempdir()) / f"mentor-cpu-{os.getuid()}"


def enabled() -> bool:
    return os.environ.get("MENTOR_CPU_SHARE", "1") not in ("0", "false", "no")


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class CpuShare:
    """``with CpuShare(): ...`` registers this process as busy; :meth:`rebalance` between steps."""

    def __init__(
        self, registry: Path | None = None, *, interval: float = 2.0, total: int | None = None
    ) -> None:
        self.registry = registry or registry_dir()
        self.interval = interval
        self.total = total or cores()
        self.pid = os.getpid()
        self.threads: int | None = None
        self._last = 0.0
        self.on = enabled()

    @property
    def _file(self) -> Path:
        return self.registry / str(self.pid)

    def __enter__(self) -> CpuShare:
        if self.on:
            self.registry.mkdir(parents=True, exist_ok=True)
            self._file.write_text(str(time.time()))
            self.rebalance(force=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._file.unlink(missing_ok=True)

    def busy(self) -> int:
        """Live registered processes (this one included); dead ones' files are removed."""
        n = 0
        for f in self.registry.glob("*"):
            try:
                pid = int(f.name)
            except ValueError:
                continue
            if pid == self.pid or pid_alive(pid):
                n += 1
            else:
                f.unlink(missing_ok=True)
        return max(n, 1)

    def share(self) -> int:
        return max(1, self.total // self.busy())

    def rebalance(self, force: bool = False) -> int | None:
        """Set torch's thread count to this process's share (cheap; rate-limited)."""
        if not self.on:
            return None
        torch = sys.modules.get("torch")
        if torch is None:  # nothing computes with torch yet: set it once it is loaded
            return None
        now = time.monotonic()
        if not force and self.threads is not None and now - self._last < self.interval:
            return self.threads
        self._last = now
        n = self.share()
        if n != self.threads:
            torch.set_num_threads(n)
            self.threads = n
        return n
