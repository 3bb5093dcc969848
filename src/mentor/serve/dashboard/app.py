"""Mount the dashboard into an app (the REST API's), or build the small app of ``mentor dashboard``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from mentor.config import Config
from mentor.paths import Workspace
from mentor.serve.dashboard import api, pages
from mentor.serve.dashboard.deps import Dashboard
from mentor.serve.errors import install_error_handlers


def mount_dashboard(app: FastAPI, ws: Workspace, cfg: Config) -> None:
    """Add the dashboard's pages, JSON endpoints and static files to ``app``."""
    app.state.dashboard = Dashboard.build(ws, cfg)
    app.include_router(pages.router)
    app.include_router(api.router)


def create_dashboard_app(ws: Workspace, cfg: Config) -> FastAPI:
    """A small app with only the dashboard (``mentor dashboard``), errors in the API's shape."""
    app = FastAPI(title="mentor dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)
    mount_dashboard(app, ws, cfg)

    @app.get("/", include_in_schema=False)
    def _home() -> Response:
        return RedirectResponse(pages.PREFIX + "/", status_code=307)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        resp: Response = await call_next(request)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        return resp

    return app
