"""The one control channel: pause, resume, skip and stop requests, from the CLI to whoever acts.

A request is one JSON object (``{"action", "reason", "ts"}``) written atomically to
``ws.control_file``. The daemon reads it on every pass of its loop and clears a request once it
has acted on it; a training process (the daemon's child, or ``mentor train`` in a terminal)
reads it after every optimizer step through :func:`training_reader`, so pause, stop and skip
take effect within one step. An evaluation child reads pause and stop the same way, after every
decode step (``EVALUATION_ACTIONS``): it is cut and runs again later.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from mentor.errors import ConfigError
from mentor.paths import Workspace, atomic_write_json

ACTIONS = ("pause", "resume", "skip", "stop")
#: the requests a running training acts on (resume is the daemon's)
TRAINING_ACTIONS = ("pause", "stop", "skip")
#: the requests that cut a running evaluation (skip names a file in training, not an evaluation)
EVALUATION_ACTIONS = ("pause", "stop")


def request(ws: Workspace, action: str, reason: str | None = None) -> dict[str, Any]:
    """Leave a request for the daemon and a running training (in any process)."""
    if action not in ACTIONS:
        raise ConfigError(f"control action {action!r}: expected one of {', '.join(ACTIONS)}")
    obj = {"action": action, "reason": reason, "ts": time.time()}
    atomic_write_json(ws.control_file, obj)
    return obj


def read(ws: Workspace) -> dict[str, Any] | None:
    """The pending request, or None (no file, a torn or unknown one)."""
    try:
        data = json.loads(ws.control_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("action") not in ACTIONS:
        return None
    return data


def action(ws: Workspace) -> str | None:
    data = read(ws)
    return str(data["action"]) if data else None


def clear(ws: Workspace, only: str | None = None) -> None:
    """Remove the request (only when it is still ``only``, if given: a newer one is kept)."""
    if only is not None and action(ws) != only:
        return
    ws.control_file.unlink(missing_ok=True)


def training_reader(
    ws: Workspace,
    *,
    since: float | None = None,
    parent: int | None = None,
    actions: tuple[str, ...] = TRAINING_ACTIONS,
) -> Callable[[], str | None]:
    """What a training checks after each step: ``pause | stop | skip`` (of ``actions``) or None.

    ``since``: requests written before this time are stale (a training started in a terminal
    ignores an old request). ``parent``: the daemon's pid; when the child's parent changes the
    daemon is gone and the training checkpoints and stops.
    """

    def read_action() -> str | None:
        if parent is not None and os.getppid() != parent:
            return "stop"
        data = read(ws)
        if data is None or data["action"] not in actions:
            return None
        if since is not None and float(data.get("ts") or 0.0) < since:
            return None
        return str(data["action"])

    return read_action


@contextlib.contextmanager
def on_sigterm(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """SIGTERM calls ``handler`` inside the block, and the previous handler is back after it.
    Signal handlers belong to the main thread: elsewhere the block runs without one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
