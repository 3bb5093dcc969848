"""An empty workspace for the analysis tests (helpers that fill it: analysis_seed.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentor import config as config_mod
from mentor.paths import Workspace, atomic_write_text
from mentor.store import connect


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    """An empty workspace (no model: nothing here generates)."""
    w = Workspace(tmp_path / "ws")
    for d in w.layout():
        d.mkdir(parents=True, exist_ok=True)
    atomic_write_text(w.config_file, config_mod.commented_yaml())
    connect(w.db).close()
    return w
