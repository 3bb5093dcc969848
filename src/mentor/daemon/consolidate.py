"""Consolidation: merge the lineage's adapter into a new base version and start a fresh adapter.

1. Refused while a file is part-trained in the lineage (its saved position would be lost).
2. A verified backup of ``model/current`` and ``mentor.yaml``.
3. ``PeftModel.merge_and_unload`` -> ``save_pretrained`` into ``versions/vNNN_..._consolidated/model/``
   with the tokenizer; recorded as a ``base`` version (sha256 manifest).
4. ``mentor.yaml`` ``model.path`` points at that ``model/`` directory (``base.set_base``): training,
   evaluation and serving load the base from the config, so the next training starts there, on a
   new lineage (training creates the ``lineages`` row with that base path); the old lineage ends.
5. ``model/current`` is cleared (it is in the verified backup): a fresh adapter and optimizer.
   The optimizer restart is an event (``lineage.optimizer_restart``).
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from mentor.config import Config
from mentor.daemon import backups, versions
from mentor.daemon.base_model import rel_to_home, set_base
from mentor.errors import JobError
from mentor.paths import Workspace
from mentor.store import events, kv
from mentor.store import lineage as lineage_rows
from mentor.store import versions as version_rows
from mentor.store.kv import Key
from mentor.train.lineage import read_state

log = logging.getLogger(__name__)


def in_progress_files(state: dict[str, Any]) -> list[str]:
    return [
        str(e.get("name") or h)
        for h, e in (state.get("files") or {}).items()
        if e.get("status") == "in_progress" and int(e.get("next_row") or 0) > 0
    ]


def merge_adapter(base: Path, adapter: Path, out: Path, cfg: Config) -> None:
    from peft import PeftModel

    from mentor.models.loader import load_model, load_tokenizer

    model = load_model(
        base, dtype=cfg.model.dtype, device="cpu", attn_implementation=cfg.model.attn_implementation
    )
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out), safe_serialization=True)
    load_tokenizer(base).save_pretrained(str(out))


def consolidate(
    ws: Workspace, cfg: Config, conn: sqlite3.Connection, *, reason: str = "manual"
) -> dict[str, Any]:
    state = read_state(ws)
    if state is None or not (ws.current / "adapter_config.json").is_file():
        raise JobError(f"{ws.current}: no adapter to consolidate", hint="train a file first")
    busy = in_progress_files(state)
    if busy:
        raise JobError(
            f"consolidation refused: {', '.join(busy)} is part-trained in this lineage",
            hint="let the file finish (or skip it) first",
        )
    base = cfg.model_path(ws.home)
    backup = backups.create(
        ws,
        conn,
        {"current": ws.current, "mentor.yaml": ws.config_file},
        reason="before-consolidation",
    )
    stage = ws.versions / f".consolidate-{int(time.time())}"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        merge_adapter(base, ws.current, stage / "model", cfg)
        parent = version_rows.latest(conn)
        v = versions.create(
            ws,
            conn,
            description="consolidated",
            kind="base",
            model_dir=stage / "model",
            parent=parent.name if parent else None,
            lineage_id=state.get("lineage_id"),
            base=rel_to_home(ws, base),
            steps=state.get("global_step"),
            metrics={"lineage_tokens": state.get("tokens"), "reason": reason},
        )
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    model_dir = ws.version_dir(v.name) / "model"
    lineage_rows.end(conn, state.get("lineage_id"), f"consolidated into {v.short}")
    value = set_base(ws, conn, model_dir, version=v.name)
    aside = ws.current.with_name(".current.consolidated")
    shutil.rmtree(aside, ignore_errors=True)
    ws.current.rename(aside)
    ws.current.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(aside, ignore_errors=True)
    kv.put(conn, Key.SERVING_VERSION, v.short)
    kv.put(conn, Key.LAST_CONSOLIDATION, str(time.time()))
    events.emit(
        conn,
        "consolidation",
        f"adapter of lineage {state.get('lineage_id')} merged into {v.name}; base is now {value}",
        version=v.name,
        backup=backup.id,
        base=value,
        old_base=rel_to_home(ws, base),
        lineage_id=state.get("lineage_id"),
        global_step=state.get("global_step"),
    )
    events.emit(
        conn,
        "lineage.optimizer_restart",
        f"new lineage on {v.short}: fresh adapter, optimizer and LR schedule",
        version=v.name,
        old_lineage=state.get("lineage_id"),
    )
    return {"version": v.name, "short": v.short, "base": value, "backup": backup.id}
