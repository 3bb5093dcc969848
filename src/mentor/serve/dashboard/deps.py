"""What the dashboard's routes depend on: its workspace and its key check (``app.state``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from mentor.config import Config
from mentor.paths import Workspace
from mentor.serve.auth import Bearer, KeyCheck
from mentor.serve.security import needs_key


@dataclass(frozen=True)
class Dashboard:
    ws: Workspace
    pages: KeyCheck  # pages and their files: a bearer key, the cookie, or ?key= once
    api: KeyCheck  # /api/dash: a bearer key or the cookie

    @classmethod
    def build(cls, ws: Workspace, cfg: Config) -> Dashboard:
        needed = needs_key(cfg)
        hashes = list(cfg.serve.api_keys)
        return cls(
            ws,
            pages=KeyCheck(hashes, needed=needed, cookie=True, query=True),
            api=KeyCheck(hashes, needed=needed, cookie=True),
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
