"""Create a workspace: the layout of DESIGN.md, a commented mentor.yaml, an empty state.db."""

from __future__ import annotations

import logging
from pathlib import Path

from mentor import config as config_mod
from mentor.errors import WorkspaceError
from mentor.paths import Workspace, atomic_write_text
from mentor.store import connect

log = logging.getLogger(__name__)


def init_workspace(home: Path, *, model: str = "tiny", seed: int = 0) -> Workspace:
    """Make a new workspace at ``home``. ``model`` is ``tiny`` (built here) or a local model path."""
    ws = Workspace(home.expanduser().resolve())
    if ws.exists() or ws.db.exists():
        raise WorkspaceError(
            f"{ws.home}: a workspace already exists here",
            hint="choose another directory, or remove this one first",
        )
    if model != "tiny":
        from mentor.models.loader import check_model_dir

        check_model_dir(Path(model).expanduser().resolve())
    for d in ws.layout():
        d.mkdir(parents=True, exist_ok=True)
    cfg = config_mod.Config()
    if model == "tiny":
        from mentor.models.tiny import build_tiny

        build_tiny(ws.models / "tiny", size="xs", seed=seed)
        cfg.model.path = "models/tiny"
    else:
        cfg.model.path = str(Path(model).expanduser().resolve())
    atomic_write_text(ws.config_file, config_mod.commented_yaml(cfg))
    connect(ws.db).close()
    log.info("workspace created at %s", ws.home)
    return ws
