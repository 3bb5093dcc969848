"""`mentor up`: the daemon, the REST API and the dashboard under one supervisor; SIGTERM stops all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return int(r.status)
    except OSError:
        return 0


@pytest.mark.slow
def test_up_serves_api_and_dashboard_and_stops_on_sigterm(workspace, tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MENTOR_HOME"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mentor",
            "--home",
            str(workspace.home),
            "up",
            "--set",
            f"serve.port={port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while _get(base + "/health") != 200 and time.time() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.5)
        assert _get(base + "/health") == 200
        assert _get(base + "/dashboard/") == 200
        assert workspace.pid_file.exists()  # the daemon holds its lock
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        print(f"mentor up stopped {time.time() - t0:.2f} s after SIGTERM")
        assert proc.returncode == 0
        time.sleep(0.5)
        assert _get(base + "/health") == 0  # the API went with it
        assert not workspace.pid_file.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
