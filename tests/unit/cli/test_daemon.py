"""``mentor up`` and ``mentor serve`` as a user meets them: --host/--port, a busy port."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from mentor.cli import app
from mentor.errors import ConfigError, DataError
from mentor.paths import Workspace

runner = CliRunner()


@pytest.fixture()
def busy_port() -> Iterator[int]:
    """A port another process (this test) listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_serve_on_a_busy_port_fails_before_saying_it_serves(
    workspace: Workspace, busy_port: int
) -> None:
    """The real command's exit code: a config error (2), not a data error (3)."""
    home = str(workspace.home)
    r = subprocess.run(
        [sys.executable, "-m", "mentor", "--home", home, "serve", "--port", str(busy_port)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == ConfigError.exit_code != DataError.exit_code, r.stderr
    assert "serving" not in r.stdout + r.stderr
    assert f"127.0.0.1:{busy_port} is not free" in r.stderr


def test_up_takes_host_and_port_and_refuses_a_busy_one_before_starting(
    workspace: Workspace, busy_port: int
) -> None:
    from mentor.cli.daemon import serve_command
    from mentor.daemon.lock import lock_holder

    r = runner.invoke(app, ["--home", str(workspace.home), "up", "--port", str(busy_port)])
    assert isinstance(r.exception, ConfigError), r.output
    assert lock_holder(workspace) is None and not (workspace.home / "daemon.pid").exists()
    cmd = serve_command(workspace.home, "0.0.0.0", 9123, ["serve.max_batch=4"])
    assert cmd[cmd.index("serve") :] == [
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "9123",
        "--set",
        "serve.max_batch=4",
    ]
