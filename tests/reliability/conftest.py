"""Fixtures of the reliability tests: how big a run is, and where its figures go.

``MENTOR_RELIABILITY=full`` (set by ``make reliability``) runs every fault and input at full
size (20 kills, a 100 MB line, thousands of files, a longer load run); without it each test runs
a small subset that fits the default suite. Each test reports what it tried and what held with
``tally(section, name, tried=..., held=..., **figures)``: the lines go to
``$MENTOR_RELIABILITY_OUT`` (a JSONL file) when it is set, and
``scripts/reliability.py`` turns them into the table of ``docs/reliability.md``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers.reliability import FULL

_spec = importlib.util.spec_from_file_location(
    "integration_fixtures", Path(__file__).parents[1] / "integration" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)
live_server = _integration.live_server  # a real uvicorn server in a thread (integration tests')
free_port = _integration.free_port
train_cfg = _integration.train_cfg  # the workspace's config made small and quick
syllo_file = _integration.syllo_file  # generated SYLLO puzzles as a JSONL file


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability_full: minutes long; runs only under MENTOR_RELIABILITY=full"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) the long fault runs outside ``make reliability``."""
    if FULL:
        return
    long = [i for i in items if i.get_closest_marker("reliability_full")]
    if long:
        config.hook.pytest_deselected(items=long)
        items[:] = [i for i in items if not i.get_closest_marker("reliability_full")]


@pytest.fixture()
def tally(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``tally(section, name, tried=n, held=m, **figures)``: one line of the reliability table."""

    def record(section: str, name: str, *, tried: int, held: int, **figures: Any) -> None:
        out = os.environ.get("MENTOR_RELIABILITY_OUT")
        if not out:
            return
        line = {
            "section": section,
            "name": name,
            "tried": tried,
            "held": held,
            "full": FULL,
            "test": request.node.nodeid,
            "ts": time.time(),
            **figures,
        }
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    return record
