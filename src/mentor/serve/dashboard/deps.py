"""What the dashboard's routes depend on: its workspace and its key check (``app.state``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from mentor.config import Config
from mentor.paths import Workspace
from mentor.serve.auth import Bearer, KeyCheck
from mentor.serve.security import needs_key, workspace_secret


@dataclass(frozen=True)
class Dashboard:
    ws: Workspace
    cfg: Config
    pages: KeyCheck  # pages and their files: a bearer key, the cookie, or ?key= once
    api: KeyCheck  # /api/dash: a bearer key or the cookie

    @classmethod
    def build(cls, ws: Workspace, cfg: Config) -> Dashboard:
        """The key checks; off loopback the cookie is keyed by the workspace's secret (made
        then, never on a loopback-only dashboard that sets no cookie)."""
        needed = needs_key(cfg)
        hashes = list(cfg.serve.api_keys)
        secret = workspace_secret(ws) if needed else None
        return cls(
            ws,
            cfg,
            pages=KeyCheck(hashes, needed=needed, cookie_secret=secret, query=True),
            api=KeyCheck(hashes, needed=needed, cookie_secret=secret),
        )


def get_dashboard(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash


Dash = Annotated[Dashboard, Depends(get_dashboard)]


async def page_key(request: Request, dash: Dash, creds: Bearer) -> None:
    """The key check of the pages, their static files and reports."""
    await dash.pages.require(request, creds)


async def api_key(request: Request, dash: Dash, creds: Bearer) -> None:
    """The key check of the JSON endpoints."""
    await dash.api.require(request, creds)
