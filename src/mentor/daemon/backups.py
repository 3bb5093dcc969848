"""Verified backups: copies with a sha256 manifest, taken before any destructive operation.

``backups/<YYYYmmdd-HHMMSS>_<reason>/`` holds ``files/<label>/...`` and ``manifest.json``
(``id``, ``reason``, ``sources`` label -> original path, ``files`` relative path -> sha256).
A backup is verified right after it is written; ``create`` returns only a verified backup.
``state.db`` is copied through SQLite's online backup (a consistent snapshot).
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentor.daemon.hashing import hash_tree, tree_size, verify_tree
from mentor.errors import IntegrityError, JobError
from mentor.paths import Workspace, atomic_write_json
from mentor.store import backups as rows
from mentor.store import events, versions

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Backup:
    id: str
    created_at: float
    reason: str
    sources: dict[str, str]
    path: Path
    verified_at: float | None
    size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "reason": self.reason,
            "sources": self.sources,
            "path": str(self.path),
            "verified_at": self.verified_at,
            "size": self.size,
        }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:40] or "backup"


def _copy_db(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    s = sqlite3.connect(src)
    d = sqlite3.connect(dest)
    try:
        s.backup(d)
    finally:
        d.close()
        s.close()


def create(
    ws: Workspace,
    conn: sqlite3.Connection,
    sources: dict[str, Path],
    *,
    reason: str,
    include_db: bool = False,
) -> Backup:
    """Copy ``sources`` (label -> file or directory) into a new backup and verify it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    bid = f"{stamp}_{_slug(reason)}"
    root = ws.backups / bid
    n = 1
    while root.exists():
        n += 1
        bid = f"{stamp}_{_slug(reason)}-{n}"
        root = ws.backups / bid
    tmp = ws.backups / f".{bid}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    files = tmp / "files"
    files.mkdir(parents=True)
    recorded: dict[str, str] = {}
    for label, src in sources.items():
        src = Path(src)
        if not src.exists():
            continue
        dest = files / label
        if src.is_dir():
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".*.tmp"))
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
        recorded[label] = str(src)
    if include_db and ws.db.exists():
        _copy_db(ws.db, files / "state.db")
        recorded["state.db"] = str(ws.db)
    created = time.time()
    manifest = {
        "id": bid,
        "created_at": created,
        "reason": reason,
        "sources": recorded,
        "files": hash_tree(files),
    }
    atomic_write_json(tmp / MANIFEST, manifest)
    tmp.rename(root)
    rows.insert(
        conn,
        bid=bid,
        created_at=created,
        reason=reason,
        sources=recorded,
        path=str(root),
    )
    verify(ws, conn, bid)
    events.emit(conn, "backup_created", f"backup {bid} ({reason})", backup=bid, reason=reason)
    return get(ws, conn, bid)


def _manifest(root: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise IntegrityError(f"{root}: manifest.json unreadable ({err})") from None
    return data


def _backup(r: rows.BackupRow) -> Backup:
    path = Path(r.path)
    return Backup(r.id, r.created_at, r.reason, r.sources, path, r.verified_at, tree_size(path))


def get(ws: Workspace, conn: sqlite3.Connection, bid: str) -> Backup:
    return _backup(rows.get(conn, bid))


def listing(ws: Workspace, conn: sqlite3.Connection) -> list[Backup]:
    """Every backup, newest first."""
    return [_backup(r) for r in rows.listing(conn)]


def verify(ws: Workspace, conn: sqlite3.Connection, bid: str) -> Backup:
    b = get(ws, conn, bid)
    if not b.path.is_dir():
        raise IntegrityError(f"backup {b.id}: {b.path} is missing")
    manifest = _manifest(b.path)
    verify_tree(b.path / "files", manifest["files"], what=f"backup {b.id}")
    rows.mark_verified(conn, b.id)
    return get(ws, conn, b.id)


def restore(
    ws: Workspace, conn: sqlite3.Connection, bid: str, *, daemon_running: bool = False
) -> tuple[Backup, Backup | None]:
    """Verify the backup, back up what it replaces, then put its files back in place.

    ``state.db`` in a backup is never copied over the live database here: the verified copy
    stays in the backup (``files/state.db``) for a restore by hand with the daemon stopped.
    """
    b = verify(ws, conn, bid)
    sources = {k: Path(v) for k, v in b.sources.items() if k != "state.db"}
    if daemon_running and any(Path(v) == ws.current for v in sources.values()):
        raise JobError(f"backup {b.id} replaces the live lineage: pause or stop the daemon first")
    safety = create(ws, conn, sources, reason=f"before-restore-{b.id}") if sources else None
    for label, target in sources.items():
        src = b.path / "files" / label
        tmp = target.with_name(f".{target.name}.restore")
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        if src.is_dir():
            shutil.copytree(src, tmp)
        else:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tmp)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        tmp.rename(target)
    events.emit(conn, "backup_restored", f"restored backup {b.id}", backup=b.id)
    return b, safety


def protected(conn: sqlite3.Connection) -> set[str]:
    """Backups that hold the only copy of a deleted version: never pruned."""
    out = set()
    for v in versions.deleted(conn):
        bid = v.metrics.get("deleted_backup")
        if bid:
            out.add(bid)
    return out


def prune_plan(
    ws: Workspace,
    conn: sqlite3.Connection,
    *,
    keep_last: int,
    keep_daily_days: int,
    now: float | None = None,
) -> tuple[list[Backup], list[Backup]]:
    """(keep, delete): the last K, one per day for D days, and protected backups are kept."""
    now = time.time() if now is None else now
    items = listing(ws, conn)  # newest first
    keep_ids = {b.id for b in items[:keep_last]} | protected(conn)
    days_seen: set[str] = set()
    for b in items:
        day = time.strftime("%Y-%m-%d", time.localtime(b.created_at))
        if now - b.created_at <= keep_daily_days * 86400 and day not in days_seen:
            days_seen.add(day)
            keep_ids.add(b.id)
    keep = [b for b in items if b.id in keep_ids]
    delete = [b for b in items if b.id not in keep_ids]
    return keep, delete


def delete(ws: Workspace, conn: sqlite3.Connection, bid: str) -> None:
    b = get(ws, conn, bid)
    shutil.rmtree(b.path, ignore_errors=True)
    rows.remove(conn, b.id)
    events.emit(conn, "backup_deleted", f"backup {b.id} deleted", backup=b.id)
