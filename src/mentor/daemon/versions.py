"""Immutable versions: ``versions/vNNN_<YYYYmmdd-HHMMSS>_<description>/``.

A version holds ``adapter/`` (the PEFT adapter), ``state/`` (optimizer, scheduler, RNG and the
lineage position: what a restore needs to continue exactly there) or, for a consolidated base,
``model/`` (merged weights and the tokenizer); and ``manifest.json``: sha256 of every file,
parent version, base model, data files with their hashes, steps and training metrics.
Evaluation metrics land later in the ``versions`` table (the directory never changes).
``vNNN`` (or just the number) names a version everywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

from mentor.daemon import backups
from mentor.daemon.base_model import set_base
from mentor.daemon.hashing import hash_tree, tree_size, verify_tree
from mentor.errors import JobError
from mentor.paths import Workspace, atomic_write_json
from mentor.store import events, kv
from mentor.store import versions as rows
from mentor.store.kv import Key
from mentor.store.versions import Version

MANIFEST = "manifest.json"
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin", "adapter_config.json")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-")[:48] or "version"


def manifest(ws: Workspace, v: Version) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ws.version_dir(v.name) / MANIFEST).read_text("utf-8"))
    return data


def _read_only(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            p.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _writable(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            p.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)


def _copy_lineage(lineage_dir: Path, root: Path) -> None:
    """The adapter files into ``adapter/``, everything else (optimizer, position) into ``state/``."""
    (root / "adapter").mkdir()
    (root / "state").mkdir()
    for f in sorted(lineage_dir.iterdir()):
        if f.is_file():
            shutil.copy2(f, root / ("adapter" if f.name in ADAPTER_FILES else "state") / f.name)


def create(
    ws: Workspace,
    conn: sqlite3.Connection,
    *,
    description: str,
    kind: str = "adapter",
    lineage_dir: Path | None = None,
    model_dir: Path | None = None,
    parent: str | None = None,
    lineage_id: int | None = None,
    base: str | None = None,
    data: list[dict[str, Any]] | None = None,
    steps: int | None = None,
    metrics: dict[str, Any] | None = None,
    job_id: int | None = None,
    now: float | None = None,
) -> Version:
    """Copy the lineage (``adapter/`` + ``state/``) or a merged model (``model/``) into a new version."""
    now = time.time() if now is None else now
    number = rows.next_number(conn)
    name = (
        f"v{number:03d}_{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}_{slug(description)}"
    )
    root = ws.version_dir(name)
    tmp = ws.versions / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if lineage_dir is not None:
        _copy_lineage(lineage_dir, tmp)
    if model_dir is not None:
        shutil.copytree(model_dir, tmp / "model")
    if parent is None:
        prev = rows.latest(conn)
        parent = prev.name if prev else None
    man = {
        "name": name,
        "short": f"v{number:03d}",
        "kind": kind,
        "created_at": now,
        "description": description,
        "parent": parent,
        "lineage_id": lineage_id,
        "base": base,
        "data": data or [],
        "steps": steps,
        "metrics": metrics or {},
        "job_id": job_id,
        "files": hash_tree(tmp),
    }
    atomic_write_json(tmp / MANIFEST, man)
    _read_only(tmp)
    tmp.rename(root)
    link = ws.version_dir(f"v{number:03d}")
    if not link.exists() and not link.is_symlink():
        link.symlink_to(name)  # the short name resolves as a directory too (evals, serve)
    rows.insert(
        conn,
        name=name,
        created_at=now,
        parent=parent,
        lineage_id=lineage_id,
        kind=kind,
        description=description,
        metrics=metrics,
    )
    events.emit(
        conn,
        "version_created",
        f"{name} created",
        version=name,
        job_id=job_id,
        version_kind=kind,
        parent=parent,
    )
    return rows.resolve(conn, name)


def verify(ws: Workspace, conn: sqlite3.Connection, ref: str) -> Version:
    v = rows.resolve(conn, ref)
    verify_tree(ws.version_dir(v.name), manifest(ws, v)["files"], what=v.name, skip=(MANIFEST,))
    return v


def show(ws: Workspace, conn: sqlite3.Connection, ref: str) -> dict[str, Any]:
    v = rows.resolve(conn, ref)
    man = manifest(ws, v)
    return {
        **v.to_dict(),
        "path": str(ws.version_dir(v.name)),
        "size": tree_size(ws.version_dir(v.name)),
        "serving": kv.get(conn, Key.SERVING_VERSION) in (v.name, v.short),
        "manifest": {k: man[k] for k in man if k != "files"},
        "files": man["files"],
    }


def diff(ws: Workspace, conn: sqlite3.Connection, a: str, b: str) -> dict[str, Any]:
    va, vb = rows.resolve(conn, a), rows.resolve(conn, b)
    ma, mb = manifest(ws, va), manifest(ws, vb)
    fa, fb = ma["files"], mb["files"]
    metrics_a = dict(ma.get("metrics") or {}, **va.metrics)
    metrics_b = dict(mb.get("metrics") or {}, **vb.metrics)
    mdiff = {}
    for k in sorted(set(metrics_a) | set(metrics_b)):
        x, y = metrics_a.get(k), metrics_b.get(k)
        if x == y:
            continue
        entry: dict[str, Any] = {"a": x, "b": y}
        if isinstance(x, int | float) and isinstance(y, int | float):
            entry["delta"] = y - x
        mdiff[k] = entry
    hashes_a = {d.get("hash") for d in ma.get("data") or []}
    hashes_b = {d.get("hash") for d in mb.get("data") or []}
    return {
        "a": va.name,
        "b": vb.name,
        "steps": {"a": ma.get("steps"), "b": mb.get("steps")},
        "base": {"a": ma.get("base"), "b": mb.get("base")},
        "files_changed": sorted(k for k in fa.keys() & fb.keys() if fa[k] != fb[k]),
        "files_only_a": sorted(fa.keys() - fb.keys()),
        "files_only_b": sorted(fb.keys() - fa.keys()),
        "data_only_a": [d for d in ma.get("data") or [] if d.get("hash") not in hashes_b],
        "data_only_b": [d for d in mb.get("data") or [] if d.get("hash") not in hashes_a],
        "metrics": mdiff,
        "a_is_ancestor": rows.is_ancestor(conn, va.name, vb.name),
    }


def _swap_in(ws: Workspace, build: Any) -> None:
    """Fill a fresh directory and replace ws.current with it (renames only)."""
    parent = ws.current.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".current.restore-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    build(tmp)
    _writable(tmp)
    old = parent / ".current.replaced"
    shutil.rmtree(old, ignore_errors=True)
    if ws.current.exists():
        ws.current.rename(old)
    tmp.rename(ws.current)
    shutil.rmtree(old, ignore_errors=True)


def restore(ws: Workspace, conn: sqlite3.Connection, ref: str) -> dict[str, Any]:
    """Make a version live: verified backup of the live lineage first, then copy the version in.

    An adapter version replaces ``model/current`` (adapter + optimizer state + position) and points
    the base back to the one it was trained on; a base version becomes the base with a fresh adapter.
    """
    v = verify(ws, conn, ref)
    man = manifest(ws, v)
    backup = backups.create(
        ws,
        conn,
        {"current": ws.current, "mentor.yaml": ws.config_file},
        reason=f"before-restore-{v.short}",
    )
    root = ws.version_dir(v.name)

    def build(tmp: Path) -> None:
        for sub in ("adapter", "state"):
            if (root / sub).is_dir():
                for f in (root / sub).iterdir():
                    shutil.copy2(f, tmp / f.name)

    _swap_in(ws, build)
    if v.kind == "base" and (root / "model").is_dir():
        set_base(ws, conn, root / "model", version=v.name)
    elif man.get("base"):
        base_path = Path(man["base"])
        base_path = base_path if base_path.is_absolute() else ws.home / base_path
        if base_path.exists():
            set_base(ws, conn, base_path, version=kv.get(conn, Key.BASE_VERSION))
    kv.put(conn, Key.SERVING_VERSION, v.short)
    events.emit(conn, "version_restored", f"{v.name} restored", version=v.name, backup=backup.id)
    return {"version": v.name, "backup": backup.id}


def delete(
    ws: Workspace, conn: sqlite3.Connection, ref: str, *, backup: bool = True
) -> dict[str, Any]:
    v = rows.resolve(conn, ref)
    root = ws.version_dir(v.name)
    if kv.get(conn, Key.SERVING_VERSION) in (v.name, v.short):
        raise JobError(f"{v.name} is the serving version", hint="restore or promote another first")
    base = kv.get(conn, Key.BASE_MODEL)
    if base and (ws.home / base).resolve().is_relative_to(root.resolve()):
        raise JobError(
            f"{v.name} holds the base model training uses", hint="consolidate or restore first"
        )
    bid = None
    if backup:
        b = backups.create(ws, conn, {v.name: root}, reason=f"before-delete-{v.short}")
        bid = b.id
    _writable(root)
    shutil.rmtree(root)
    link = ws.version_dir(v.short)
    if link.is_symlink():
        link.unlink()
    rows.set_metrics(
        conn, v.name, {"deleted_backup": bid, "deleted_at": time.time()}, status="deleted"
    )
    events.emit(conn, "version_deleted", f"{v.name} deleted", version=v.name, backup=bid)
    return {"version": v.name, "backup": bid}
