"""Fixtures of the integration tests: a real uvicorn server in a thread on a free local port."""

from __future__ import annotations

import contextlib
import inspect
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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


@dataclass
class Held:
    """A call held at its start: ``entered`` once a caller is waiting, ``release()`` lets it go."""

    entered: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)

    def wait_entered(self, timeout: float = 60.0) -> None:
        assert self.entered.wait(timeout), "the held call was never made"

    def release(self) -> None:
        self.gate.set()


@contextlib.contextmanager
def _holding(obj: Any, name: str) -> Iterator[Held]:
    real = getattr(obj, name)
    held = Held()

    def wait() -> None:
        held.entered.set()
        assert held.gate.wait(60), "held call never released"

    if inspect.isgeneratorfunction(real):

        def stand_in(*args: Any, **kwargs: Any) -> Any:
            wait()
            yield from real(*args, **kwargs)
    else:

        def stand_in(*args: Any, **kwargs: Any) -> Any:
            wait()
            return real(*args, **kwargs)

    setattr(obj, name, stand_in)
    try:
        yield held
    finally:
        held.release()  # never leave a caller waiting on a failed test
        setattr(obj, name, real)


@pytest.fixture()
def hold() -> Callable[[Any, str], contextlib.AbstractContextManager[Held]]:
    """``with hold(engine, "generate") as h:`` every call of ``engine.generate`` waits at its
    start until ``h.release()`` (or the block ends): a request in flight, on demand."""
    return _holding
