"""Fixtures of the integration tests: a real uvicorn server in a thread on a free local port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serving(app: Any, start_timeout: float = 120.0) -> Iterator[str]:
    import uvicorn

    from mentor.serve.server import uvicorn_config

    host, port = "127.0.0.1", free_port()
    server = uvicorn.Server(uvicorn_config(app, host, port, "warning"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, name="mentor-test-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {host}:{port} did not start")
            time.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture()
def live_server() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """``with live_server(app) as url: ...``: the app served by uvicorn (lifespan on) until the
    block ends, as ``mentor serve`` runs it."""
    return _serving
