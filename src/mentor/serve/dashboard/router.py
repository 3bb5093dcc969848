"""The view-only web dashboard: pages, JSON endpoints under ``/api/dash``, its own static files.

``mount_dashboard(app, ws, cfg)`` adds it to a FastAPI app (the REST API's, or the small one
``mentor dashboard`` builds). Pages live under ``/dashboard/``; they poll the JSON endpoints
every second. Nothing here changes training: there are only GET routes.

Security: static files come from a fixed table of names (our JS/CSS and the plotly.js of the
installed ``plotly`` package), reports only by a name found in the listing of ``ws.reports``;
no route maps a URL path onto the workspace. When ``serve.host`` is not loopback every route
needs a key: ``Authorization: Bearer <key>``, or once ``?key=<key>`` on a page, which sets an
HttpOnly cookie and redirects to the same page without the key.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from mentor.config import Config
from mentor.paths import Workspace
from mentor.serve.dashboard import data
from mentor.serve.security import is_loopback, key_ok

HERE = Path(__file__).resolve().parent
PREFIX = "/dashboard"
API = "/api/dash"
COOKIE = "mentor_dash_key"
PAGES = {
    "overview": "Overview",
    "live": "Live",
    "evolution": "Evolution",
    "evals": "Evals",
    "versions": "Versions",
    "reports": "Reports",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
)


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def static_files() -> dict[str, tuple[Path, str]]:
    """The only files the dashboard serves as static assets."""
    return {
        "dash.js": (HERE / "static" / "dash.js", "text/javascript; charset=utf-8"),
        "dash.css": (HERE / "static" / "dash.css", "text/css; charset=utf-8"),
        "plotly.min.js": (plotly_js(), "text/javascript; charset=utf-8"),
    }


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(["html"]),
    )


def needs_key(cfg: Config) -> bool:
    return not is_loopback(cfg.serve.host)


def build_router(ws: Workspace, cfg: Config) -> APIRouter:
    protect = needs_key(cfg)
    hashes = list(cfg.serve.api_keys)

    def guard(request: Request) -> None:
        if not protect:
            return
        auth = request.headers.get("authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if key_ok(token, hashes) or key_ok(request.cookies.get(COOKIE), hashes):
            return
        if request.url.path.startswith(PREFIX) and key_ok(request.query_params.get("key"), hashes):
            return  # the page handler sets the cookie and redirects
        raise HTTPException(401, "a valid key is needed", headers={"WWW-Authenticate": "Bearer"})

    router = APIRouter(dependencies=[Depends(guard)])

    def page(request: Request, name: str) -> Response:
        key = request.query_params.get("key")
        if protect and key:
            resp: Response = RedirectResponse(request.url.path, status_code=303)
            resp.set_cookie(
                COOKIE,
                key,
                httponly=True,
                samesite="strict",
                path="/",
                secure=request.url.scheme == "https",
            )
            return resp
        html = (
            _env()
            .get_template(f"{name}.html")
            .render(
                page=name, pages=PAGES, prefix=PREFIX, api=API, title=PAGES[name], home=str(ws.home)
            )
        )
        return HTMLResponse(
            html, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"}
        )

    @router.get(PREFIX, include_in_schema=False)
    def _root() -> Response:
        return RedirectResponse(PREFIX + "/", status_code=307)

    @router.get(PREFIX + "/", include_in_schema=False)
    def _overview(request: Request) -> Response:
        return page(request, "overview")

    for name in PAGES:
        if name == "overview":
            continue

        def _make(n: str) -> Any:
            def handler(request: Request) -> Response:
                return page(request, n)

            handler.__name__ = f"page_{n}"
            return handler

        router.add_api_route(
            f"{PREFIX}/{name}", _make(name), methods=["GET"], include_in_schema=False
        )

    files = static_files()

    @router.get(PREFIX + "/static/{name}", include_in_schema=False)
    def _static(name: str) -> Response:
        if name not in files or not files[name][0].is_file():
            raise HTTPException(404, "not found")
        path, media = files[name]
        return FileResponse(path, media_type=media, headers={"Cache-Control": "max-age=3600"})

    @router.get(PREFIX + "/reports/{name:path}", include_in_schema=False)
    def _report(name: str) -> Response:
        found = data.reports(ws).get(name)
        if found is None:
            raise HTTPException(404, "no such report")
        media = data.REPORT_SUFFIXES[found.suffix.lower()]
        return FileResponse(
            found,
            media_type=media,
            headers={"Content-Security-Policy": REPORT_CSP, "X-Content-Type-Options": "nosniff"},
        )

    def _json(obj: Any) -> JSONResponse:
        return JSONResponse(obj, headers={"Cache-Control": "no-store"})

    def _need(value: Any, what: str) -> Any:
        if value is None:
            raise HTTPException(404, f"no such {what}")
        return value

    def _check_run(run: str | None) -> None:
        if run is not None and data.run_dir(ws, run) is None:
            raise HTTPException(404, "no such run")

    @router.get(API + "/overview")
    def api_overview(run: str | None = None) -> JSONResponse:
        _check_run(run)
        return _json(data.overview(ws, run))

    @router.get(API + "/status")
    def api_status() -> JSONResponse:
        return _json(data.read_status(ws))

    @router.get(API + "/runs")
    def api_runs() -> JSONResponse:
        return _json({"runs": data.runs(ws)})

    @router.get(API + "/metrics")
    def api_metrics(run: str | None = None, since: int | None = None) -> JSONResponse:
        _check_run(run)
        return _json(data.metrics(ws, run, since))

    @router.get(API + "/live")
    def api_live(run: str | None = None) -> JSONResponse:
        _check_run(run)
        return _json(data.live(ws, run))

    @router.get(API + "/evolution")
    def api_evolution(run: str | None = None) -> JSONResponse:
        _check_run(run)
        return _json(data.evolution(ws, run))

    @router.get(API + "/evolution/diff")
    def api_evolution_diff(probe: str, a: int, b: int, run: str | None = None) -> JSONResponse:
        _check_run(run)
        return _json(_need(data.evolution_diff(ws, run, probe, a, b), "snapshot or probe"))

    @router.get(API + "/evals")
    def api_evals() -> JSONResponse:
        return _json(data.evals(ws))

    @router.get(API + "/versions")
    def api_versions() -> JSONResponse:
        return _json({"versions": data.versions(ws)})

    @router.get(API + "/reports")
    def api_reports() -> JSONResponse:
        return _json({"reports": data.report_list(ws)})

    @router.get(API + "/events")
    def api_events(
        kind: list[str] | None = Query(None), limit: int = Query(50, ge=1, le=500)
    ) -> JSONResponse:
        return _json({"events": data.recent_events(ws, kind, limit)})

    @router.get(API + "/alerts")
    def api_alerts() -> JSONResponse:
        return _json({"alerts": data.active_alerts(ws)})

    return router


def mount_dashboard(app: FastAPI, ws: Workspace, cfg: Config) -> None:
    """Add the dashboard's pages, JSON endpoints and static files to ``app``."""
    app.include_router(build_router(ws, cfg))


def create_dashboard_app(ws: Workspace, cfg: Config) -> FastAPI:
    """A small app with only the dashboard (``mentor dashboard``)."""
    app = FastAPI(title="mentor dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    mount_dashboard(app, ws, cfg)

    @app.get("/", include_in_schema=False)
    def _home() -> Response:
        return RedirectResponse(PREFIX + "/", status_code=307)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        resp: Response = await call_next(request)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        return resp

    return app
