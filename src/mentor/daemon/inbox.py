"""Inbox scanning: a file is taken only when it is complete.

Complete means: it ends with a newline, and its size and mtime have not changed for
``daemon.settle_seconds`` (the daemon's clock), and no writer still holds it open. The watchdog
observer (inotify on Linux) is the fast path: its events wake the daemon at once, and its
open / close-write events say whether a writer still has the file open, so a writer that pauses
longer than the settle window mid-file is not cut. Polling every ``daemon.poll_seconds`` is the
fallback (then only the newline and the settle window decide). A file that stays unchanged for
``daemon.incomplete_grace_seconds`` is taken even without a final newline or a seen close
(validation then judges it; a lost event never strands a file).

Hidden files and temporary names (``.x.jsonl``, ``x.jsonl.part``, anything under a dot folder)
are ignored until they are renamed: the atomic way to drop a file (docs/daemon.md).
"""

from __future__ import annotations

import logging
import os
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
    newline: bool  # the file ends with b"\n" (read once per size/mtime pair)


def ends_with_newline(path: Path) -> bool:
    """Whether the file's last byte is a newline (an empty file is not complete)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return False
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"
    except OSError:
        return False


def ignored(rel: Path) -> bool:
    """Temporary names: a dot file or folder, or not ending in ``.jsonl`` (``x.jsonl.part``)."""
    return rel.suffix != ".jsonl" or any(part.startswith(".") for part in rel.parts)


class Inbox:
    def __init__(
        self, root: Path, settle_seconds: float, incomplete_grace_seconds: float = 120.0
    ) -> None:
        self.root = root
        self.settle = settle_seconds
        self.grace = incomplete_grace_seconds
        self._seen: dict[Path, _Seen] = {}
        self.wake = threading.Event()
        self._observer: Any = None
        self._open: dict[Path, int] = {}  # open handles seen by the watch
        self._lock = threading.Lock()

    # -- watchdog -------------------------------------------------------------------------
    def start_watch(self) -> bool:
        """Start a watchdog observer: it wakes the daemon and tracks writers; False if unavailable."""
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return False
        inbox = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if not event.is_directory:
                    inbox.on_event(
                        event.event_type, event.src_path, getattr(event, "dest_path", "")
                    )
                inbox.wake.set()

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

    def on_event(self, kind: str, src: str | bytes, dest: str | bytes = "") -> None:
        """Count the file's open handles: ``opened`` adds one, ``closed`` (close-write) and
        ``closed_no_write`` take one; a rename or delete ends them."""
        path = Path(os.fsdecode(src))
        with self._lock:
            if kind == "opened":
                self._open[path] = self._open.get(path, 0) + 1
            elif kind in ("closed", "closed_no_write"):
                left = self._open.get(path, 0) - 1
                if left > 0:
                    self._open[path] = left
                else:
                    self._open.pop(path, None)
            elif kind in ("moved", "deleted"):
                self._open.pop(path, None)
                if dest:
                    self._open.pop(Path(os.fsdecode(dest)), None)

    def writing(self, path: Path) -> bool:
        """Whether a process holds the file open (a writer that has not closed it yet)."""
        with self._lock:
            return self._open.get(path, 0) > 0

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
            if not ignored(p.relative_to(self.root)) and p.is_file():
                out.append(p)
        return sorted(out)

    def settled(self, now: float) -> list[Path]:
        """Complete files (see the module's docstring), oldest first."""
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
                seen = _Seen(st.st_size, st.st_mtime_ns, now, ends_with_newline(p))
                self._seen[p] = seen
            still = now - seen.since
            if still >= self.grace and self.grace > 0:
                if not seen.newline or self.writing(p):
                    log.warning("%s: unchanged for %.0fs, taken though incomplete", p, still)
                ready.append(p)
            elif seen.newline and still >= self.settle and not self.writing(p):
                ready.append(p)
        for gone in set(self._seen) - current:
            del self._seen[gone]
        return ready

    def next_settle(self) -> float | None:
        """Clock time at which the earliest waiting file may be taken."""
        times = [s.since + self.settle for s in self._seen.values() if s.newline]
        if self.grace > 0:
            times += [s.since + self.grace for s in self._seen.values() if not s.newline]
        return min(times, default=None)

    def forget(self, path: Path) -> None:
        self._seen.pop(path, None)
        with self._lock:
            self._open.pop(path, None)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()
