"""Inbox scanning: watchdog events wake the daemon, a polling scan is the fallback.

A ``.jsonl`` file (sub-folders included) is taken once its size and mtime have not changed for
``daemon.settle_seconds`` (measured with the daemon's clock). Hidden files and temporary names
(``.x.jsonl``, ``x.jsonl.part``) are ignored.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # clock time the (size, mtime) pair was first seen


class Inbox:
    def __init__(self, root: Path, settle_seconds: float) -> None:
        self.root = root
        self.settle = settle_seconds
        self._seen: dict[Path, _Seen] = {}
        self.wake = threading.Event()
        self._observer: Any = None

    # -- watchdog -------------------------------------------------------------------------
    def start_watch(self) -> bool:
        """Start a watchdog observer that sets :attr:`wake` on any change; False if unavailable."""
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return False
        wake = self.wake

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                wake.set()

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            obs = Observer()
            obs.schedule(Handler(), str(self.root), recursive=True)
            obs.daemon = True
            obs.start()
        except Exception as err:  # inotify limits, odd filesystems: polling still works
            log.warning("inbox watch unavailable (%s); polling only", err)
            return False
        self._observer = obs
        return True

    def stop_watch(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2)
            self._observer = None

    # -- scanning -------------------------------------------------------------------------
    def candidates(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        out = []
        for p in self.root.rglob("*.jsonl"):
            rel = p.relative_to(self.root)
            if any(part.startswith(".") for part in rel.parts):
                continue
            if p.is_file():
                out.append(p)
        return sorted(out)

    def settled(self, now: float) -> list[Path]:
        """Files whose size and mtime are unchanged for ``settle`` seconds, oldest first."""
        ready = []
        current = set()
        for p in self.candidates():
            try:
                st = p.stat()
            except OSError:
                continue
            current.add(p)
            seen = self._seen.get(p)
            if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
                self._seen[p] = _Seen(st.st_size, st.st_mtime_ns, now)
                if self.settle > 0:
                    continue
                seen = self._seen[p]
            if now - seen.since >= self.settle:
                ready.append(p)
        for gone in set(self._seen) - current:
            del self._seen[gone]
        return ready

    def next_settle(self) -> float | None:
        """Clock time at which the earliest unsettled file may be settled."""
        return min((s.since + self.settle for s in self._seen.values()), default=None)

    def forget(self, path: Path) -> None:
        self._seen.pop(path, None)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()
