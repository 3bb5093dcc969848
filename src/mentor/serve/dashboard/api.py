"""The dashboard's JSON endpoints under ``/api/dash`` (GET only; nothing here changes training).

Each is a thin call into :mod:`mentor.serve.dashboard.data`, answered through its response model
(:mod:`mentor.serve.dashboard.schemas`) with ``Cache-Control: no-store`` (the pages poll every
second). A ``run`` is looked up by name among the run folders; an unknown one is 404, and so is
a missing snapshot or probe.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from mentor.serve.dashboard import data
from mentor.serve.dashboard import schemas as s
from mentor.serve.dashboard.deps import Dash, api_key
from mentor.serve.schemas import errors


def _no_store(response: Response) -> None:
    """Every answer is a snapshot of now: never cached."""
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(
    prefix="/api/dash",
    tags=["dashboard"],
    dependencies=[Depends(api_key), Depends(_no_store)],
    responses=errors(401, 500),
)


def _known_run(dash: Dash, run: str | None = None) -> str | None:
    """The ``run`` query parameter, 404 when no run folder has that name."""
    if run is not None and data.run_dir(dash.ws, run) is None:
        raise HTTPException(404, "no such run")
    return run


Run = Depends(_known_run)


@router.get("/overview", response_model=s.Overview, responses=errors(404))
def overview(dash: Dash, run: str | None = Run) -> Any:
    return data.overview(dash.ws, run)


@router.get("/status", response_model=s.Obj)
def status(dash: Dash) -> Any:
    """The status snapshot (``status/training_status.json``) as the training wrote it."""
    return data.read_status(dash.ws)


@router.get("/runs", response_model=s.Runs)
def runs(dash: Dash) -> Any:
    return {"runs": data.runs(dash.ws)}


@router.get("/metrics", response_model=s.Metrics, responses=errors(404))
def metrics(dash: Dash, run: str | None = Run, since: int | None = None) -> Any:
    return data.metrics(dash.ws, run, since)


@router.get("/live", response_model=s.Live, responses=errors(404))
def live(dash: Dash, run: str | None = Run) -> Any:
    return data.live(dash.ws, run)


@router.get("/evolution", response_model=s.Evolution, responses=errors(404))
def evolution(dash: Dash, run: str | None = Run) -> Any:
    return data.evolution(dash.ws, run)


@router.get("/evolution/diff", response_model=s.EvolutionDiff, responses=errors(404))
def evolution_diff(dash: Dash, probe: str, a: int, b: int, run: str | None = Run) -> Any:
    """A word-level diff of ``probe``'s answer between the snapshots of steps ``a`` and ``b``."""
    found = data.evolution_diff(dash.ws, run, probe, a, b)
    if found is None:
        raise HTTPException(404, "no such snapshot or probe")
    return found


@router.get("/evals", response_model=s.Evals)
def evals(dash: Dash) -> Any:
    return data.evals(dash.ws)


@router.get("/versions", response_model=s.Versions)
def versions(dash: Dash) -> Any:
    return {"versions": data.versions(dash.ws)}


@router.get("/reports", response_model=s.Reports)
def reports(dash: Dash) -> Any:
    return {"reports": data.report_list(dash.ws)}


@router.get("/events", response_model=s.Events)
def events(
    dash: Dash,
    kind: list[str] | None = Query(None),
    limit: int = Query(50, ge=1, le=500),
) -> Any:
    return {"events": data.recent_events(dash.ws, kind, limit)}


@router.get("/alerts", response_model=s.Alerts)
def alerts(dash: Dash) -> Any:
    return {"alerts": data.active_alerts(dash.ws)}
