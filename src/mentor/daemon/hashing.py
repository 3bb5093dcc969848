"""sha256 of files and directory trees (manifests of versions and backups)."""

from __future__ import annotations

from pathlib import Path

from mentor.errors import IntegrityError
from mentor.paths import sha256_file


def tree_files(root: Path, *, skip: tuple[str, ...] = ()) -> list[Path]:
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.relative_to(root).as_posix() not in skip
    )


def hash_tree(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """``{relative/path: sha256}`` of every file under ``root``."""
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in tree_files(root, skip=skip)}


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def verify_tree(
    root: Path, expected: dict[str, str], *, what: str, skip: tuple[str, ...] = ()
) -> None:
    """Raise IntegrityError naming every missing, changed or extra file."""
    actual = hash_tree(root, skip=skip)
    problems = [f"missing {k}" for k in expected if k not in actual]
    problems += [f"changed {k}" for k in expected if k in actual and actual[k] != expected[k]]
    problems += [f"unexpected {k}" for k in actual if k not in expected]
    if problems:
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise IntegrityError(f"{what}: checksum mismatch: {', '.join(problems[:5])}{more}")
