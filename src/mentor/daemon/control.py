"""Control requests from the CLI: pause, resume, skip, stop.

The CLI writes ``ws.control_file`` (``{"action", "reason", "ts"}``), atomically. The training
child reads it every optimizer step (pause/stop/skip take effect within one step); the daemon
reads it every loop. The daemon clears a request once it has acted on it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from mentor.errors import ConfigError
from mentor.paths import Workspace, atomic_write_json

ACTIONS = ("pause", "resume", "skip", "stop")


def request(ws: Workspace, action: str, reason: str | None = None) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ConfigError(f"control action {action!r}: expected one of {', '.join(ACTIONS)}")
    obj = {"action": action, "reason": reason, "ts": time.time()}
    atomic_write_json(ws.control_file, obj)
    return obj


def read(ws: Workspace) -> dict[str, Any] | None:
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
