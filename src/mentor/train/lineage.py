"""The lineage: which rows of a file are held out, the seeded order the rest are trained in, and
the lineage's state on disk with its crash recovery (DESIGN "Continuous training").

``ws.current`` uses the Hugging Face checkpoint layout (adapter or model weights, optimizer.pt,
scheduler.pt, rng_state.pth, trainer_state.json) plus ``mentor_state.json``: lineage id, global
step, tokens, per file its training position (next row of the seeded order), and the ledger
rows this checkpoint covers (``ledger_tail``). A checkpoint is written to a temporary directory
next to ``current`` and swapped in by renames, so a crash leaves either the old or the new
checkpoint, never half of one. Each checkpoint's state carries the sha256 of its files
(``checksums``) and the checkpoint before it is kept as ``.current.prev``: a checkpoint whose
files no longer match (truncated, corrupted on disk) is set aside and training falls back to the
previous one (:func:`verify_or_fall_back`); it never trains on corrupt state.

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
from mentor.errors import ConfigError, IntegrityError
from mentor.paths import Workspace, atomic_write_json, sha256_file
from mentor.store import events, transaction
from mentor.store import lineage as lineage_rows

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- split and order


def _rng(seed: int, file_hash: str, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, int(file_hash[:8], 16), *extra])


def split_rows(
    keep: list[int], cfg: Config, file_hash: str, groups: dict[int, Any] | None = None
) -> tuple[list[int], list[int]]:
    """(held-out rows, training rows): min(holdout_max, fraction x rows), seeded by seed + file.

    With ``groups`` (row -> group key), whole groups are held out or trained: the augmented
    copies of one source row never fall on both sides (else the held-out score is a training
    score)."""
    n_hold = min(cfg.data.holdout_max, int(cfg.data.holdout_fraction * len(keep)))
    if len(keep) - n_hold < 1:
        n_hold = 0
    rng = _rng(cfg.training.seed, file_hash, 0)
    if not groups:
        perm = rng.permutation(np.asarray(keep, dtype=np.int64))
        return sorted(int(x) for x in perm[:n_hold]), sorted(int(x) for x in perm[n_hold:])
    members: dict[Any, list[int]] = {}
    for i in keep:
        members.setdefault(groups.get(i, ("row", i)), []).append(i)
    keys = list(members)
    held: list[int] = []
    for g in rng.permutation(len(keys)):
        if len(held) >= n_hold or len(held) + len(members[keys[g]]) >= len(keep):
            break
        held += members[keys[g]]
    chosen = set(held)
    return sorted(held), [i for i in keep if i not in chosen]


def augment_groups(report: ValidationReport) -> dict[int, Any] | None:
    """Row -> its source row for a file ``mentor augment`` wrote (each source row, then its
    copies carrying ``metadata.augment.source_index``); None for any other file."""
    parsed = report.parsed
    if parsed is None:
        return None
    groups: dict[int, Any] = {}
    last_original: int | None = None
    for i in report.keep:
        try:
            meta = json.loads(parsed.raw[i]).get("metadata")
        except (ValueError, AttributeError):
            meta = None
        aug = meta.get("augment") if isinstance(meta, dict) else None
        if isinstance(aug, dict) and "source_index" in aug:
            groups[i] = ("source", aug["source_index"])
            if last_original is not None:  # the source row written just before its copies
                groups[last_original] = groups[i]
                last_original = None
        else:
            last_original = i
    return groups or None


def split_report(report: ValidationReport, cfg: Config) -> tuple[list[int], list[int]]:
    """:func:`split_rows` of a validated file, its augmented copies kept with their source."""
    return split_rows(report.keep, cfg, report.file_hash, augment_groups(report))


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
    held, _ = split_report(report, cfg)
    return [report.parsed.row_json(i) for i in held]


# --------------------------------------------------------------------------- state on disk


def _old(ws: Workspace) -> Path:
    return ws.current.with_name(".current.old")


def _prev(ws: Workspace) -> Path:
    return ws.current.with_name(".current.prev")


def checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file of a checkpoint but its state file (which records them)."""
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "mentor_state.json"
    }


def damage(folder: Path) -> list[str]:
    """What no longer matches the checksums the checkpoint was saved with (empty: intact).
    A checkpoint saved before checksums existed has nothing to compare and passes."""
    state = _read(folder / "mentor_state.json")
    if state is None:
        return ["mentor_state.json unreadable"] if any(folder.glob("*")) else []
    saved = state.get("checksums")
    if not isinstance(saved, dict):
        return []
    out = []
    for rel, digest in saved.items():
        f = folder / rel
        if not f.is_file():
            out.append(f"{rel} missing")
        elif sha256_file(f) != digest:
            out.append(f"{rel} checksum mismatch")
    return out


def verify_or_fall_back(ws: Workspace, conn: sqlite3.Connection) -> None:
    """A damaged ``current`` is set aside (``.current.corrupt-<time>``) and the previous
    checkpoint of the same lineage becomes ``current``; with none intact, training refuses."""
    if not ws.current.is_dir():
        return
    bad = damage(ws.current)
    if not bad:
        return
    state, prev = _read(ws.lineage_state), _prev(ws)
    prev_state = _read(prev / "mentor_state.json") if prev.is_dir() else None
    usable = prev_state is not None and not damage(prev)
    if usable and state is not None and prev_state is not None:  # same lineage, earlier step
        usable = prev_state.get("lineage_id") == state.get("lineage_id") and int(
            prev_state.get("global_step", 0)
        ) < int(state.get("global_step", 0))
    aside = ws.current.with_name(f".current.corrupt-{int(time.time())}")
    ws.current.rename(aside)
    if not usable:
        events.emit(
            conn, "train.checkpoint_corrupt", f"{ws.current}: {', '.join(bad)}", level="error"
        )
        raise IntegrityError(
            f"{ws.current}: checkpoint damaged ({', '.join(bad[:3])}) and no intact previous "
            f"checkpoint; set aside as {aside.name}",
            hint="restore a version: `mentor versions restore vNNN`",
        )
    assert prev_state is not None
    prev.rename(ws.current)
    msg = (
        f"{ws.current}: checkpoint damaged ({', '.join(bad[:3])}); set aside as {aside.name}, "
        f"resuming from the previous checkpoint (step {prev_state.get('global_step')})"
    )
    log.error("%s", msg)
    events.emit(
        conn, "train.checkpoint_corrupt", msg, level="error", damaged=bad,
        fallback_step=prev_state.get("global_step"), set_aside=str(aside),
    )  # fmt: skip


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
    state["checksums"] = checksums(stage)
    atomic_write_json(stage / ws.lineage_state.name, dict(state, updated_at=time.time()))
    old = _old(ws)
    shutil.rmtree(old, ignore_errors=True)
    if ws.current.exists():
        ws.current.rename(old)
    stage.rename(ws.current)
    prev = _prev(ws)
    shutil.rmtree(prev, ignore_errors=True)
    if old.is_dir() and (old / ws.lineage_state.name).is_file():
        old.rename(prev)  # the fallback if this checkpoint is found damaged
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- ledger


def ledger_tail(
    run_id: str, file_hash: str, steps: list[tuple[int, list[int]]], replay: Any = None
) -> dict[str, Any]:
    """The rows a checkpoint covers since the previous one: ``[(step, rows)]`` of one run.

    With ``replay`` (a :class:`~mentor.train.replay.ReplaySet`), dataset indices of replayed
    rows go to ``replay`` as ``[step, [[file_hash, row], ...]]``: the ledger records them under
    their own file, marked, never as this file's rows.
    """
    if replay is None:
        return {"run_id": run_id, "file_hash": file_hash, "steps": [[s, r] for s, r in steps]}
    own = [[s, [x for x in r if replay.source(x) is None]] for s, r in steps]
    other = [[s, [list(replay.source(x)) for x in r if replay.source(x)]] for s, r in steps]
    return {"run_id": run_id, "file_hash": file_hash, "steps": own, "replay": other}


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
        for step, pairs in tail.get("replay") or []:
            if int(step) > last:
                for h, r in pairs:
                    lineage_rows.record(
                        conn, lineage_id, h, [r], int(step), tail["run_id"], replay=True
                    )
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
    verify_or_fall_back(ws, conn)
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
    heldout, train_rows = split_report(report, cfg)
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
