"""Shared fixtures: offline, one tiny model per session, a temporary workspace per test.

Only two kinds of test may skip: GPU tests without CUDA (``tests/gpu/``) and the compatibility
tests that read the users' rows in ``../shared/origin-data`` (``tests/compat/``). A skip anywhere
else fails the run: a test that cannot run here is a test that does not exist.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

REPO = Path(__file__).resolve().parents[1]
ORIGIN_DATA = REPO.parent / "shared" / "origin-data"
TESTS = Path(__file__).resolve().parent
MAY_SKIP = (TESTS / "gpu", TESTS / "compat")

_forbidden_skips: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.skipped:
        return
    path = Path(str(report.fspath)).resolve()
    if not any(path.is_relative_to(d) for d in MAY_SKIP):
        _forbidden_skips.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _forbidden_skips and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _forbidden_skips:
        terminalreporter.section("skips outside tests/gpu and tests/compat (a failure)", red=True)
        for nodeid in _forbidden_skips:
            terminalreporter.write_line(nodeid)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No test reads or writes a workspace it did not make: MENTOR_HOME points at an empty
    folder unless the test sets its own."""
    monkeypatch.setenv("MENTOR_HOME", str(tmp_path_factory.mktemp("no-home")))


@pytest.fixture(scope="session")
def origin_data() -> Path:
    """The users' real rows (compatibility tests only: ``tests/compat/``)."""
    if not ORIGIN_DATA.is_dir():
        pytest.skip(f"{ORIGIN_DATA} not present (compatibility tests need the users' rows)")
    return ORIGIN_DATA


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The xs tiny model, built once per test session (read-only by convention)."""
    from mentor.models.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "model", size="xs", seed=0)


@pytest.fixture()
def workspace(tmp_path: Path, tiny_model_dir: Path):
    """A fresh workspace whose config points at the session's tiny model."""
    from mentor import config as config_mod
    from mentor.paths import Workspace, atomic_write_text
    from mentor.store import connect

    ws = Workspace(tmp_path / "ws")
    for d in ws.layout():
        d.mkdir(parents=True, exist_ok=True)
    cfg = config_mod.Config()
    cfg.model.path = str(tiny_model_dir)
    atomic_write_text(ws.config_file, config_mod.commented_yaml(cfg))
    connect(ws.db).close()
    return ws
