"""Report files under ``reports/``: daily reports, eval reports (``reports/evals/<run>/``) and
anything else written there, found by walking the folder, never by a path from a URL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mentor.paths import Workspace

REPORT_SUFFIXES = {
    ".md": "text/markdown; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
#: folders below ``reports/`` that are listed (``reports/evals/<run>/report.md`` is 2 deep)
MAX_DEPTH = 3


def reports(ws: Workspace) -> dict[str, Path]:
    """Report files under ``ws.reports`` (up to :data:`MAX_DEPTH` folders deep), by their name
    relative to it. Symlinks (to files or folders), hidden entries and anything that resolves
    outside the reports folder are left out, so a listed name can only serve a report."""
    root = ws.reports
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    base = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        depth = len(here.relative_to(root).parts)
        dirnames[:] = [
            d
            for d in dirnames
            if depth < MAX_DEPTH and not d.startswith(".") and not (here / d).is_symlink()
        ]
        for name in filenames:
            p = here / name
            if name.startswith(".") or p.is_symlink() or p.suffix.lower() not in REPORT_SUFFIXES:
                continue
            rp = p.resolve()
            if rp.is_relative_to(base) and rp.is_file():
                found[p.relative_to(root).as_posix()] = rp
    return found


def report_list(ws: Workspace) -> list[dict[str, Any]]:
    """Every report with its size and time, newest first."""
    out: list[dict[str, Any]] = []
    for name, p in reports(ws).items():
        st = p.stat()
        out.append({"name": name, "size": st.st_size, "mtime": st.st_mtime})
    out.sort(key=lambda r: r["mtime"], reverse=True)
    return out
