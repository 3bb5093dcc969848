"""The status snapshot ``status/training_status.json``: one JSON object scripts can read.

Written atomically (temp + rename) and at most every ``interval`` seconds; :meth:`flush` forces
a write (state changes, the end of a job). Training feeds it through its progress callback, the
daemon through its state changes. The field names are the ones the users' scripts read
(``spec/lessons.md``); unknown fields are kept as given.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

from mentor.paths import Workspace, atomic_write_json

FIELDS: tuple[str, ...] = (
    "status",
    "current_step",
    "total_steps",
    "loss",
    "learning_rate",
    "current_file",
    "batch_step",
    "batch_total_steps",
    "tokens_per_sec",
    "validation_loss",
    "val_train_gap",
    "recent_examples",
    "total_evals",
    "total_correct",
    "accuracy_percent",
    "active_alerts",
    "error_message",
    "timestamp",
)

# Names a training progress callback may use -> the snapshot's field names.
ALIASES: dict[str, str] = {
    "step": "current_step",
    "global_step": "current_step",
    "max_steps": "total_steps",
    "lr": "learning_rate",
    "file": "current_file",
    "eval_loss": "validation_loss",
    "val_loss": "validation_loss",
    "tokens_per_s": "tokens_per_sec",
    "file_step": "batch_step",
    "file_steps": "batch_total_steps",
    "file_total_steps": "batch_total_steps",
    "message": "error_message",
}

RECENT_EXAMPLES = 5
EXAMPLE_KEYS = ("step", "prompt", "golden", "model_output", "matches", "loss")


def empty_status() -> dict[str, Any]:
    s: dict[str, Any] = dict.fromkeys(FIELDS)
    s.update(
        status="idle",
        recent_examples=[],
        active_alerts=[],
        total_evals=0,
        total_correct=0,
        timestamp=time.time(),
    )
    return s


def read_status(ws: Workspace) -> dict[str, Any]:
    """The last snapshot (every field present; missing file -> an idle snapshot)."""
    s = empty_status()
    try:
        data = json.loads(ws.status_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return s
    if isinstance(data, dict):
        s.update(data)
    return s


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class StatusWriter:
    """``update(**fields)`` merges fields and writes at most every ``interval`` s; ``flush()`` writes now."""

    def __init__(
        self,
        ws: Workspace,
        *,
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        keep_existing: bool = True,
    ) -> None:
        self.ws = ws
        self.interval = interval
        self.clock = clock
        self.state: dict[str, Any] = read_status(ws) if keep_existing else empty_status()
        self._last_write: float | None = None
        self._dirty = False
        self.writes = 0

    def update(self, _fields: dict[str, Any] | None = None, /, **fields: Any) -> bool:
        """Merge fields (aliases accepted); returns True when the file was written."""
        merged = dict(_fields or {}, **fields)
        example = merged.pop("example", None)
        for key, value in merged.items():
            self.state[ALIASES.get(key, key)] = _clean(value)
        if example:
            self.add_example(example)
        self._derive()
        self._dirty = True
        now = self.clock()
        if self._last_write is None or now - self._last_write >= self.interval:
            self.flush()
            return True
        return False

    def add_example(self, example: dict[str, Any]) -> None:
        ex = {k: example.get(k) for k in EXAMPLE_KEYS}
        recent = [*list(self.state.get("recent_examples") or []), ex]
        self.state["recent_examples"] = recent[-RECENT_EXAMPLES:]
        if ex["matches"] is not None:
            self.state["total_evals"] = int(self.state.get("total_evals") or 0) + 1
            self.state["total_correct"] = int(self.state.get("total_correct") or 0) + int(
                bool(ex["matches"])
            )

    def alert(self, message: str) -> None:
        alerts = list(self.state.get("active_alerts") or [])
        if message not in alerts:
            alerts.append(message)
        self.update(active_alerts=alerts)

    def clear_alert(self, message: str) -> None:
        alerts = [a for a in self.state.get("active_alerts") or [] if a != message]
        self.update(active_alerts=alerts)

    def _derive(self) -> None:
        s = self.state
        total, correct = s.get("total_evals") or 0, s.get("total_correct") or 0
        s["accuracy_percent"] = round(100.0 * correct / total, 2) if total else None
        loss, val = s.get("loss"), s.get("validation_loss")
        if isinstance(loss, int | float) and isinstance(val, int | float):
            s["val_train_gap"] = round(float(val) - float(loss), 6)

    def flush(self) -> None:
        self.state["timestamp"] = time.time()
        atomic_write_json(self.ws.status_file, {k: self.state.get(k) for k in self._keys()})
        self._last_write = self.clock()
        self._dirty = False
        self.writes += 1

    def _keys(self) -> list[str]:
        return list(FIELDS) + [k for k in self.state if k not in FIELDS]


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def eta_seconds(status: dict[str, Any]) -> float | None:
    """Seconds left of what runs now, the one definition ``mentor status`` and the dashboard
    show: an evaluation's (from its items done and their pace) while evaluating, else the
    training's (the trainer's own estimate from its step pace); None when nothing runs."""
    state = status.get("status")
    if state == "evaluating":
        ev = status.get("evaluation")
        return _number(ev.get("eta_s")) if isinstance(ev, dict) else None
    if state == "training":
        return _number(status.get("eta_s"))
    return None
