"""Sizing the quick evaluation after a file so it costs about what training the file did.

On a CPU with a small model an untrained version generates to the token cap and a fixed
``eval.quick_per_tier`` can take many times the training (16 min after a 16 s training was
seen). The daemon caps the items per tier of each post-training evaluation:

    items = eval.quick_budget_share x (seconds the file's training took)
            / (seconds per item the last evaluation measured)
    per tier = items // number of benchmarks, at most eval.quick_per_tier

The pace is the last evaluation's wall time over its items done (kv ``eval.seconds_per_item``;
model loading and the held-out rows, which are always evaluated whole, are in it, so it errs
on the side of fewer items). Before any evaluation was
measured, or with ``eval.quick_budget_share: 0``, ``eval.quick_per_tier`` applies as is.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from mentor.config import Config
from mentor.store import kv
from mentor.store.kv import Key


def quick_per_tier(
    cfg: Config, train_seconds: float | None, pace: float | None, heldout: int = 0
) -> int:
    """Items per tier of the quick benchmark for this evaluation (see the module docstring)."""
    want = cfg.eval.quick_per_tier
    share = cfg.eval.quick_budget_share
    if share <= 0 or not train_seconds or not pace or not cfg.eval.benchmarks:
        return want
    items = share * train_seconds / pace - heldout
    return max(0, min(want, int(items // len(cfg.eval.benchmarks))))


def train_seconds(outcome_file: Path) -> float | None:
    """How long the job's last training child ran (its outcome's ``seconds``)."""
    try:
        out: dict[str, Any] = json.loads(outcome_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    s = out.get("seconds")
    return float(s) if isinstance(s, int | float) and s > 0 else None


def record_pace(conn: sqlite3.Connection, out: dict[str, Any] | None) -> float | None:
    """Keep the seconds per item of a finished evaluation (its outcome's figures)."""
    if not out:
        return None
    done, seconds = out.get("items_done"), out.get("seconds")
    if not isinstance(done, int) or done <= 0 or not isinstance(seconds, int | float):
        return None
    pace = float(seconds) / done
    kv.put(conn, Key.EVAL_SECONDS_PER_ITEM, f"{pace:.6g}")
    return pace


def pace(conn: sqlite3.Connection) -> float | None:
    return kv.get_float(conn, Key.EVAL_SECONDS_PER_ITEM)
