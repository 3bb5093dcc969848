"""Lessons 14 and 17 with tests that fail on the failure (lessons 3 and 15 -- backups verified by
content, retention applied by the running daemon -- are proven in tests/unit/daemon/test_versions.py
and test_retention.py).

* CORS: a request with an ``Origin`` header (and a preflight) gets no ``Access-Control-Allow-*``
  from the API or the dashboard; the same check run on an app given ``allow_origins=["*"]`` fails.
* No key or password ships in code, config or docs (a scan of the repository).
* A second daemon on one workspace, or ``mentor up`` on a port in use, is refused with a message.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.middleware.cors import CORSMiddleware
from fastapi.testclient import TestClient

from mentor import config as config_mod
from mentor.paths import Workspace
from mentor.serve.app import create_app
from mentor.serve.dashboard import create_dashboard_app

REPO = Path(__file__).resolve().parents[2]
EVIL = "http://evil.example"


def cors_leaks(client: TestClient, paths: list[str]) -> list[str]:
    """Every (path, header) through which a foreign origin would be let in."""
    leaks = []
    for path in paths:
        pre = client.options(
            path,
            headers={"Origin": EVIL, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, content-type"},
        )  # fmt: skip
        got = client.get(path, headers={"Origin": EVIL})
        for resp in (pre, got):
            for h, v in resp.headers.items():
                if h.lower().startswith("access-control-allow") and (
                    h.lower() != "access-control-allow-origin" or v in ("*", EVIL)
                ):
                    leaks.append(f"{resp.request.method} {path}: {h}: {v}")
    return leaks


API_PATHS = ["/health", "/v1/models", "/generate", "/dashboard/", "/api/dash/status", "/metrics"]


def test_no_cors_for_a_foreign_origin_and_the_check_catches_a_wildcard(
    workspace: Workspace,
) -> None:
    cfg = config_mod.load(workspace.config_file)
    app = create_app(workspace, cfg)
    with TestClient(app) as c:
        assert c.get("/health", headers={"Origin": EVIL}).status_code == 200
        assert cors_leaks(c, API_PATHS) == []
    dash = create_dashboard_app(workspace, cfg)
    with TestClient(dash) as c:
        assert cors_leaks(c, ["/dashboard/", "/api/dash/status", "/api/dash/overview"]) == []
    # the failure this test exists for: someone adds allow_origins=["*"]
    opened = create_app(workspace, cfg)
    opened.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"]
    )
    with TestClient(opened) as c:
        assert cors_leaks(c, API_PATHS), "the CORS check would not notice allow_origins=['*']"


SECRET = [
    re.compile(r"admin123"),
    re.compile(
        r"""(?i)\b(pass(word)?|secret|api_?key|token)\b\s*[:=]\s*["'][^"'\s{}<>$]{6,}["']"""
    ),
    re.compile(r"\bsk-[A-Za-z0-9]{20,}"),
    re.compile(r"\bmentor-[A-Za-z0-9_-]{43}\b"),  # a key as `mentor serve --hash-key` makes them
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bghp_[A-Za-z0-9]{30,}"),
]
SCANNED = {
    ".py",
    ".md",
    ".yaml",
    ".yml",
    ".toml",
    ".json",
    ".txt",
    ".cfg",
    ".ini",
    ".sh",
    ".html",
    ".js",
}
ALLOWED = {  # test fixtures that stand for what a user types, never a real credential
    "tests/reliability/test_lessons.py",
}


def test_no_key_or_password_shipped_in_code_config_or_docs() -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    found = []
    scanned = 0
    for rel in files:
        p = REPO / rel
        if (p.suffix not in SCANNED and p.name not in ("Makefile", "run")) or rel in ALLOWED:
            continue
        if not p.is_file() or p.stat().st_size > 2_000_000:
            continue
        scanned += 1
        text = p.read_text(errors="replace")
        for pat in SECRET:
            for m in pat.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{rel}:{line}: {m.group(0)[:60]}")
    assert scanned > 100
    assert not found, "\n".join(found)
    assert config_mod.Config().serve.api_keys == []  # no key by default


def test_the_scan_finds_a_planted_key(tmp_path: Path) -> None:
    planted = 'KEY = "admin123"\npassword: "hunter22"\nauth = "mentor-' + "A" * 43 + '"\n'
    hits = [m.group(0) for pat in SECRET for m in pat.finditer(planted)]
    assert len(hits) >= 3


def _mentor(ws: Workspace, *args: str) -> list[str]:
    return [sys.executable, "-m", "mentor", "--home", str(ws.home), *args]


@pytest.mark.slow
@pytest.mark.reliability_full
def test_a_second_daemon_or_up_on_a_busy_port_is_refused(workspace: Workspace) -> None:
    from mentor.daemon.lock import PidLock

    lock = PidLock(workspace).acquire()  # a daemon of this workspace runs
    try:
        r = subprocess.run(
            _mentor(workspace, "daemon"), capture_output=True, text=True, timeout=120
        )
        assert r.returncode != 0
        msg = r.stdout + r.stderr
        assert "already runs" in msg
        assert "Traceback" not in msg
    finally:
        lock.release()
    with socket.socket() as busy:  # another program holds the port
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        t0 = time.monotonic()
        r = subprocess.run(
            _mentor(workspace, "up", "--set", f"serve.port={port}"),
            capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        msg = r.stdout + r.stderr
        assert r.returncode != 0, msg
        assert str(port) in msg and "Traceback" not in msg, msg
        assert time.monotonic() - t0 < 200
    assert not workspace.pid_file.exists()  # the daemon it started is gone again
