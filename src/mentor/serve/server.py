"""Run the API with uvicorn in the foreground (``mentor serve``)."""

from __future__ import annotations

from typing import Any

from mentor.config import Config
from mentor.paths import Workspace


def uvicorn_config(app: Any, host: str, port: int, log_level: str) -> Any:
    """uvicorn settings of every mentor server: no access log, no server header, no proxy
    headers (a client cannot claim another address), lifespan on (the model loads at startup)."""
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


def serve(ws: Workspace, cfg: Config, *, log_level: str = "info") -> None:
    """Serve until interrupted. Refuses a non-loopback bind without an API key."""
    import uvicorn

    from mentor.serve.app import create_app

    app = create_app(ws, cfg)
    uvicorn.Server(uvicorn_config(app, cfg.serve.host, cfg.serve.port, log_level)).run()
