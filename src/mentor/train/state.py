"""The lineage's state on disk (``ws.current``) and in ``state.db`` (lineages, ledger).

``ws.current`` uses the Hugging Face checkpoint layout (adapter or model weights, optimizer.pt,
scheduler.pt, rng_state.pth, trainer_state.json) plus ``mentor_state.json``: lineage id, global
step, tokens, and per file its training position (next row of the seeded order). A checkpoint is
written to a temporary directory next to ``current`` and swapped in by renames, so a crash leaves
either the old or the new checkpoint, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from mentor.paths import Workspace, atomic_write_json

STATE_NAME = "mentor_state.json"


def _old(ws: Workspace) -> Path:
    return ws.current.with_name(".current.old")


def recover(ws: Workspace) -> None:
    """Finish a checkpoint swap that a crash interrupted."""
    old = _old(ws)
    if old.is_dir():
        if (ws.current / STATE_NAME).is_file():
            shutil.rmtree(old, ignore_errors=True)
        else:
            shutil.rmtree(ws.current, ignore_errors=True)
            old.rename(ws.current)


def load_state(ws: Workspace) -> dict[str, Any] | None:
    recover(ws)
    f = ws.current / STATE_NAME
    if not f.is_file():
        return None
    data: dict[str, Any] = json.loads(f.read_text(encoding="utf-8"))
    return data


def new_state(lineage_id: int, base: str, method: str) -> dict[str, Any]:
    return {
        "lineage_id": lineage_id,
        "base": base,
        "method": method,
        "global_step": 0,
        "tokens": 0,
        "label_tokens": 0,
        "files": {},
        "current_file": None,
        "updated_at": time.time(),
    }


def commit_checkpoint(ws: Workspace, write: Any, state: dict[str, Any]) -> Path:
    """``write(tmp_dir)`` fills a fresh directory; then it replaces ``ws.current`` atomically."""
    parent = ws.current.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".current.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    state = dict(state, updated_at=time.time())
    atomic_write_json(tmp / STATE_NAME, state)
    old = _old(ws)
    shutil.rmtree(old, ignore_errors=True)
    if ws.current.exists():
        ws.current.rename(old)
    tmp.rename(ws.current)
    shutil.rmtree(old, ignore_errors=True)
    return ws.current
