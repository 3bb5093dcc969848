"""Run the API with uvicorn: in the foreground (``mentor serve``) or in a thread (tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from mentor.config import Config
from mentor.paths import Workspace
from mentor.serve.models import EngineFactory
from mentor.serve.security import check_bind


def _uvicorn_config(app: Any, host: str, port: int, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
    )


def serve(
    ws: Workspace,
    cfg: Config,
    *,
    log_level: str = "info",
    engine_factory: EngineFactory | None = None,
) -> None:
    """Serve until interrupted. Refuses a non-loopback bind without an API key."""
    import uvicorn

    from mentor.serve.app import create_app

    check_bind(cfg)
    app = create_app(ws, cfg, engine_factory=engine_factory)
    uvicorn.Server(_uvicorn_config(app, cfg.serve.host, cfg.serve.port, log_level)).run()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A uvicorn server in a background thread: ``with LiveServer(app) as url: ...``."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        start_timeout: float = 120.0,
    ):
        import uvicorn

        self.host = host
        self.port = port or free_port(host)
        self.server = uvicorn.Server(_uvicorn_config(app, self.host, self.port, "warning"))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(
            target=self.server.run, name="mentor-serve-live", daemon=True
        )
        self.start_timeout = start_timeout

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(30)
