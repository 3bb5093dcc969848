"""Where the workspace's base model is: ``mentor.yaml`` ``model.path`` (and kv ``base_model``).

Consolidation saves a merged base under ``versions/vNNN_.../model/`` and points ``model.path``
at it, so everything that loads the base through the config (training, evaluation, serving)
looks there. The line is edited in place (the file's comments are kept); kv ``base_model``
records the same path and ``base_version`` the version name, for status and reports.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import yaml

from mentor import config as config_mod
from mentor.paths import Workspace, atomic_write_text
from mentor.store import kv
from mentor.store.kv import Key


def rel_to_home(ws: Workspace, path: Path) -> str:
    """``path`` relative to the workspace when inside it (the workspace can move), else absolute."""
    try:
        return path.resolve().relative_to(ws.home.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def set_base(ws: Workspace, conn: sqlite3.Connection, path: Path, *, version: str | None) -> str:
    """Point ``model.path`` of mentor.yaml at ``path``; returns the value written."""
    value = rel_to_home(ws, path)
    text = ws.config_file.read_text(encoding="utf-8")
    new = _replace_model_path(text, value)
    if new is None:
        raw = config_mod.read_yaml(ws.config_file)
        raw.setdefault("model", {})["path"] = value
        cfg = config_mod.build(raw)
        new = config_mod.commented_yaml(cfg)
    config_mod.build(yaml.safe_load(new) or {})  # still a valid config
    atomic_write_text(ws.config_file, new)
    kv.put(conn, Key.BASE_MODEL, value)
    kv.put(conn, Key.BASE_VERSION, version)
    return value


def _replace_model_path(text: str, value: str) -> str | None:
    lines = text.splitlines(keepends=True)
    in_model = False
    for i, line in enumerate(lines):
        if re.match(r"^model:\s*(#.*)?$", line):
            in_model = True
            continue
        if in_model and re.match(r"^\S", line) and not line.startswith("#"):
            return None  # left the section without a path line
        m = re.match(r"^(\s+)path:\s*.*$", line.rstrip("\n"))
        if in_model and m:
            lines[i] = f"{m.group(1)}path: {json.dumps(value)}\n"
            return "".join(lines)
    return None
