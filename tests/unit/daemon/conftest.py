"""Fixtures of the daemon tests: a workspace and ``kit`` (the stand-ins and helpers module)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from mentor.paths import Workspace

STAND_INS = Path(__file__).with_name("stand_ins.py")


@pytest.fixture(scope="session")
def kit() -> ModuleType:
    """``stand_ins.py`` (loaded by path: tests are not a package)."""
    spec = importlib.util.spec_from_file_location("daemon_stand_ins", STAND_INS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def fake_ws(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A workspace whose daemon children run the stand-ins at their default speeds."""
    monkeypatch.setenv("FAKE_STEP_S", "0.05")
    monkeypatch.setenv("FAKE_EVAL_S", "0")
    monkeypatch.setenv("FAKE_FULL_S", "0")
    return workspace
