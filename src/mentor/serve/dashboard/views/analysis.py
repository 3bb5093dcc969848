"""The Curve and Compare pages: :func:`mentor.analysis.curve_data.curve_data` and
:func:`mentor.analysis.compare.compare_data`, the same functions as ``mentor curve`` and
``mentor compare``, read-only (a comparison reuses stored item scores and generates nothing).

The models a comparison may name are those listed by :func:`models` (``base``, ``current`` once
trained, each live version's ``vNNN``); any other name is refused before anything resolves it, so
an error never carries a path of the server.
"""

from __future__ import annotations

from typing import Any

from mentor.analysis.compare import compare_data
from mentor.analysis.costs import business as business_data
from mentor.analysis.curve_data import curve_data
from mentor.config import Config
from mentor.errors import NotFoundError
from mentor.models.loader import is_adapter_dir
from mentor.paths import Workspace
from mentor.serve.dashboard.views.runs import runs
from mentor.serve.dashboard.views.tables import versions

EMPTY_CURVE: dict[str, Any] = {
    "runs": [],
    "lineage": True,
    "series": {},
    "previews": {"steps": [], "values": [], "metric": None},
    "boundaries": [],
    "evals": [],
    "metric": None,
    "analysis": {"findings": [], "lines": [], "recommendation": None},
}


def curve(ws: Workspace, cfg: Config, run: str | None = None) -> dict[str, Any]:
    """The learning curve of one run, or (default) of the newest run's whole lineage, with the
    analyzer's verdicts; an empty curve while nothing was trained."""
    known = {r["id"] for r in runs(ws)}
    if run is not None and run not in known:
        raise NotFoundError(f"run {run!r}: no such run")
    try:
        return curve_data(ws, cfg, [run] if run else None, lineage=run is None)
    except NotFoundError:
        if run is not None:
            raise
        return dict(EMPTY_CURVE)


def business(ws: Workspace, cfg: Config) -> dict[str, Any]:
    """The business metrics of ``mentor summary`` and the daily report, all time."""
    return business_data(ws, cfg)


def models(ws: Workspace) -> list[str]:
    """The names a comparison may use: base, current (once trained), every ``vNNN`` that is
    not deleted and whose folder is there."""
    out = ["base"]
    if is_adapter_dir(ws.current) or is_adapter_dir(ws.current / "adapter"):
        out.append("current")
    live = [
        v
        for v in versions(ws)
        if v.get("status") != "deleted" and ws.version_dir(str(v["name"])).is_dir()
    ]
    out += sorted({str(v["short"]) for v in live})
    return out


def compare(
    ws: Workspace, cfg: Config, a: str, b: str, *, benchmarks: list[str] | None = None
) -> dict[str, Any]:
    """Model ``b`` against model ``a`` on the items both have stored scores for."""
    names = models(ws)
    for ref in (a, b):
        if ref not in names:
            raise NotFoundError(f"model {ref!r}: not one of {', '.join(names)}")
    result = compare_data(ws, cfg, a, b, benchmarks=benchmarks or None, loss=True)
    for side in ("a", "b"):  # the page shows names, not the server's directories
        result[side] = {k: v for k, v in result[side].items() if k not in ("path", "adapter")}
    return result
