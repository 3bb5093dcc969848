"""The lineage: which rows of a file are held out, the seeded order the rest are trained in, and
the lineage's state on disk with its crash recovery (DESIGN "Continuous training").

``ws.current`` uses the Hugging Face checkpoint layout (adapter or model weights, optimizer.pt,
scheduler.pt, rng_state.pth, trainer_state.json) plus ``mentor_state.json``: lineage id, global
step, tokens, per file its training position (next row of the seeded order), and the ledger
rows this checkpoint covers (``ledger_tail``). A checkpoint is written to a temporary directory
next to ``current`` and swapped in by renames, so a crash leaves either the old or the new
checkpoint, never half of one.

The row ledger in ``state.db`` only ever holds rows a checkpoint kept: rows are written after
the checkpoint that covers them, and :func:`sync_ledger` (on every start) writes the rows of a
checkpoint whose ledger write a crash cut off, and forgets rows of steps no checkpoint kept.

:func:`read_state` is the one reader of ``mentor_state.json`` (training, the daemon,
consolidation); it never changes the disk, so a reader in another process cannot disturb a
checkpoint being swapped in. Only training, which owns the lineage, calls :func:`recover`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mentor.config import Config
from mentor.data.packing import (
    Pack,
    arrange_for_packing,
    one_per_pack,
    pack_greedy,
    packing_supported,
)
from mentor.data.validate import ValidationReport
from mentor.errors import ConfigError
from mentor.paths import Workspace, atomic_write_json
from mentor.store import lineage as lineage_rows
from mentor.store import transaction

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- split and order


def _rng(seed: int, file_hash: str, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, int(file_hash[:8], 16), *extra])


def split_rows(keep: list[int], cfg: Config, file_hash: str) -> tuple[list[int], list[int]]:
    """(held-out rows, training rows): min(holdout_max, fraction x rows), seeded by seed + file."""
    perm = _rng(cfg.training.seed, file_hash, 0).permutation(np.asarray(keep, dtype=np.int64))
    n_hold = min(cfg.data.holdout_max, int(cfg.data.holdout_fraction * len(keep)))
    if len(keep) - n_hold < 1:
        n_hold = 0
    return sorted(int(x) for x in perm[:n_hold]), sorted(int(x) for x in perm[n_hold:])


def training_order(train_rows: list[int], cfg: Config, file_hash: str, pass_no: int) -> list[int]:
    """The seeded order rows are consumed in (``epochs_per_file`` passes, each shuffled)."""
    order: list[int] = []
    base = np.asarray(train_rows, dtype=np.int64)
    for epoch in range(cfg.training.epochs_per_file):
        perm = _rng(cfg.training.seed, file_hash, 1 + pass_no, epoch).permutation(base)
        order += [int(x) for x in perm]
    return order


def heldout_rows(report: ValidationReport, cfg: Config) -> list[dict[str, Any]]:
    """The held-out rows of a validated file, exactly as training splits them: each as it
    appears in the file plus ``messages`` as training read it (ShareGPT, Alpaca and mapped rows
    are evaluated like ``messages`` rows)."""
    if report.parsed is None:
        return []
    held, _ = split_rows(report.keep, cfg, report.file_hash)
    return [report.parsed.row_json(i) for i in held]


# --------------------------------------------------------------------------- state on disk


def _old(ws: Workspace) -> Path:
    return ws.current.with_name(".current.old")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_state(ws: Workspace) -> dict[str, Any] | None:
    """The lineage's saved state, or None when no checkpoint exists.

    Between the two renames of a checkpoint swap ``current`` has no state and the previous
    checkpoint sits in ``.current.old``: that one is still the saved state, so it is returned.
    """
    state = _read(ws.lineage_state)
    if state is None and _old(ws).is_dir():
        state = _read(_old(ws) / ws.lineage_state.name)
    return state


def recover(ws: Workspace) -> None:
    """Finish a checkpoint swap that a crash interrupted, and drop half-written checkpoints
    (training only: it owns the lineage)."""
    for stale in ws.current.parent.glob(".incoming-*"):
        shutil.rmtree(stale, ignore_errors=True)
    old = _old(ws)
    if old.is_dir():
        if ws.lineage_state.is_file():
            shutil.rmtree(old, ignore_errors=True)
        else:
            shutil.rmtree(ws.current, ignore_errors=True)
            old.rename(ws.current)


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
        "ledger_tail": None,
        "updated_at": time.time(),
    }


def write_state(ws: Workspace, state: dict[str, Any]) -> None:
    """Rewrite the state of the checkpoint in place (no weights changed)."""
    atomic_write_json(ws.lineage_state, dict(state, updated_at=time.time()))


def commit_checkpoint(ws: Workspace, folder: Path, state: dict[str, Any]) -> None:
    """``folder`` (a complete checkpoint) gets the lineage's state and replaces ``ws.current``.

    It is moved next to ``current`` first (a rename on the same disk, else a copy), so the swap
    itself is two renames: a crash leaves the old or the new checkpoint (:func:`recover`).
    """
    stage = ws.current.with_name(f".incoming-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    shutil.move(str(folder), str(stage))
    atomic_write_json(stage / ws.lineage_state.name, dict(state, updated_at=time.time()))
    old = _old(ws)
    shutil.rmtree(old, ignore_errors=True)
    if ws.current.exists():
        ws.current.rename(old)
    stage.rename(ws.current)
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- ledger


def ledger_tail(run_id: str, file_hash: str, steps: list[tuple[int, list[int]]]) -> dict[str, Any]:
    """The rows a checkpoint covers since the previous one: ``[(step, rows)]`` of one run."""
    return {"run_id": run_id, "file_hash": file_hash, "steps": [[s, r] for s, r in steps]}


def write_ledger(conn: sqlite3.Connection, lineage_id: int, tail: dict[str, Any] | None) -> int:
    """Record the tail's rows that the ledger lacks (steps above its last); returns how many."""
    if not tail:
        return 0
    last = lineage_rows.last_step(conn, lineage_id)
    n = 0
    with transaction(conn):
        for step, rows in tail["steps"]:
            if int(step) > last:
                lineage_rows.record(
                    conn, lineage_id, tail["file_hash"], rows, int(step), tail["run_id"]
                )
                n += len(rows)
    return n


def sync_ledger(conn: sqlite3.Connection, state: dict[str, Any]) -> None:
    """Make the ledger agree with the saved checkpoint: forget rows of steps it does not hold
    (a restored version, an older checkpoint), add the rows it holds that a crash kept out."""
    lineage_id = int(state["lineage_id"])
    with transaction(conn):
        lineage_rows.drop_after(conn, lineage_id, int(state["global_step"]))
    write_ledger(conn, lineage_id, state.get("ledger_tail"))


# --------------------------------------------------------------------------- one file's plan


def open_lineage(
    ws: Workspace, conn: sqlite3.Connection, cfg: Config
) -> tuple[dict[str, Any], bool]:
    """The lineage to train (its saved state, else a new one) and whether it resumes one."""
    recover(ws)
    state = read_state(ws)
    base = str(cfg.model_path(ws.home))
    if state is None:
        with transaction(conn):
            lineage_id = lineage_rows.create(conn, base)
        return new_state(lineage_id, base, cfg.training.method), False
    if state.get("method") != cfg.training.method:
        raise ConfigError(
            f"training.method={cfg.training.method} but the lineage in {ws.current} was trained "
            f"with {state.get('method')}",
            hint="consolidate or start a new lineage before switching methods",
        )
    sync_ledger(conn, state)
    return state, True


@dataclass
class FilePlan:
    """What training a file means from the lineage's saved position."""

    entry: dict[str, Any]  # the file's entry in the lineage state (name, position, status...)
    heldout: list[int]  # dataset indices never trained
    order: list[int]  # the whole seeded training order (arranged for packing)
    packs: list[Pack]  # what is left to train, from the saved row
    packing: bool
    done_before: bool = False  # completed in this lineage before (and not forced again)


def plan_file(
    state: dict[str, Any], report: ValidationReport, cfg: Config, name: str, force: bool
) -> FilePlan:
    """Split, order and pack the file from its saved row; a file completed before is planned
    again only with ``force`` (a new pass with its own order)."""
    file_hash = report.file_hash
    heldout, train_rows = split_rows(report.keep, cfg, file_hash)
    entry = state["files"].get(file_hash)
    pass_no = int(entry.get("pass", 0)) if entry else 0
    if entry is not None and entry.get("status") == "completed":
        if not force:
            return FilePlan(entry, heldout, [], [], False, done_before=True)
        entry, pass_no = None, pass_no + 1
    order = training_order(train_rows, cfg, file_hash, pass_no)
    if entry is None:
        entry = {
            "name": name,
            "rows_total": len(order),
            "next_row": 0,
            "status": "in_progress",
            "pass": pass_no,
            "heldout": len(heldout),
        }
    t = cfg.training
    packing = t.packing and packing_supported(cfg.model.attn_implementation)
    if t.packing and not packing:
        log.warning(
            "attention %s cannot separate packed examples; using padded batches",
            cfg.model.attn_implementation,
        )
    lengths = report.dataset["length"]
    next_row = int(entry["next_row"])
    if packing:  # fixed when the file starts and kept in its entry: a resumed file keeps its order
        entry.setdefault("pack_length", t.max_length)
        entry.setdefault("pack_window", t.pack_window)
        order = arrange_for_packing(order, lengths, entry["pack_length"], entry["pack_window"])
        packs = pack_greedy(order[next_row:], lengths, t.max_length, offset=next_row)
    else:
        packs = one_per_pack(order[next_row:], offset=next_row)
    return FilePlan(entry, heldout, order, packs, packing)
