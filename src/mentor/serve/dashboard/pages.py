"""The dashboard's pages (Jinja templates), its static files and the report files.

Pages live under ``/dashboard/`` and poll the JSON of :mod:`mentor.serve.dashboard.api`. Static
files come from a fixed table of names (our JS/CSS and the plotly.js of the installed ``plotly``
package), reports only by a name found in the listing of ``ws.reports``: no route maps a URL
path onto the workspace. A page opened with a valid ``?key=`` sets the HttpOnly cookie and
redirects to itself without the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from mentor.serve.auth import COOKIE
from mentor.serve.dashboard.deps import Dash, Dashboard, page_key
from mentor.serve.dashboard.views import reports as report_files

HERE = Path(__file__).resolve().parent
PREFIX = "/dashboard"
API = "/api/dash"


@dataclass(frozen=True)
class Page:
    """A page: its template ``<name>.html``, its label in the menu, the extra scripts it loads
    (names in :func:`static_files`) after ``dash.js``, which register its handler."""

    name: str
    label: str
    scripts: tuple[str, ...] = ()


#: The menu, in order. A new page is one entry here, a template and (for its JS) a static file.
PAGES: dict[str, Page] = {
    p.name: p
    for p in (
        Page("overview", "Overview"),
        Page("live", "Live"),
        Page("evolution", "Evolution"),
        Page("curve", "Curve", ("analysis.js",)),
        Page("compare", "Compare", ("analysis.js",)),
        Page("evals", "Evals"),
        Page("versions", "Versions"),
        Page("reports", "Reports"),
    )
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
)

router = APIRouter(prefix=PREFIX, dependencies=[Depends(page_key)], include_in_schema=False)


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


@lru_cache(maxsize=1)
def static_files() -> dict[str, tuple[Path, str]]:
    """The only files the dashboard serves as static assets."""
    js = "text/javascript; charset=utf-8"
    return {
        "dash.js": (HERE / "static" / "dash.js", js),
        "analysis.js": (HERE / "static" / "analysis.js", js),
        "dash.css": (HERE / "static" / "dash.css", "text/css; charset=utf-8"),
        "plotly.min.js": (plotly_js(), js),
    }


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(["html"]),
    )


def _key_to_cookie(request: Request, dash: Dashboard) -> Response | None:
    """A page opened with a valid ``?key=``: set the cookie (a keyed hash, not the key),
    redirect to the bare URL."""
    key = request.query_params.get("key")
    if not dash.pages.needed or not dash.pages.valid(key):
        return None
    resp = RedirectResponse(request.url.path, status_code=303)
    resp.set_cookie(
        COOKIE,
        dash.pages.cookie_for(str(key)),
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )
    return resp


def render(request: Request, dash: Dashboard, name: str) -> Response:
    redirect = _key_to_cookie(request, dash)
    if redirect is not None:
        return redirect
    html = (
        _env()
        .get_template(f"{name}.html")
        .render(
            page=name,
            pages=PAGES,
            prefix=PREFIX,
            api=API,
            title=PAGES[name].label,
            scripts=PAGES[name].scripts,
            home=str(dash.ws.home),
        )
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})


@router.get("")
def root() -> Response:
    return RedirectResponse(PREFIX + "/", status_code=307)


@router.get("/")
def overview(request: Request, dash: Dash) -> Response:
    return render(request, dash, "overview")


def _page(name: str) -> Any:
    def handler(request: Request, dash: Dash) -> Response:
        return render(request, dash, name)

    handler.__name__ = f"page_{name}"
    return handler


for _name in PAGES:
    if _name != "overview":
        router.add_api_route(f"/{_name}", _page(_name), methods=["GET"])


@router.get("/static/{name}")
def static(name: str) -> Response:
    files = static_files()
    if name not in files or not files[name][0].is_file():
        raise HTTPException(404, "not found")
    path, media = files[name]
    return FileResponse(path, media_type=media, headers={"Cache-Control": "max-age=3600"})


@router.get("/reports/{name:path}")
def report(name: str, dash: Dash) -> Response:
    found = report_files.reports(dash.ws).get(name)
    if found is None:
        raise HTTPException(404, "no such report")
    media = report_files.REPORT_SUFFIXES[found.suffix.lower()]
    return FileResponse(
        found,
        media_type=media,
        headers={"Content-Security-Policy": REPORT_CSP, "X-Content-Type-Options": "nosniff"},
    )
