"""The dashboard's JSON endpoints under ``/api/dash`` (GET only; nothing here changes training).

Each is a thin call into :mod:`mentor.serve.dashboard.views`, answered through its response model
(:mod:`mentor.serve.dashboard.schemas`) with ``Cache-Control: no-store`` (the pages poll every
second). A ``run`` is looked up by name among the run folders; an unknown one is 404, and so is
a missing snapshot or probe, or a model a comparison may not name.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from mentor.monitor.status import read_status
from mentor.serve.dashboard import schemas as s
from mentor.serve.dashboard.deps import Dash, api_key
from mentor.serve.dashboard.views import analysis, tables
from mentor.serve.dashboard.views import evolution as evo
from mentor.serve.dashboard.views import live as live_view
from mentor.serve.dashboard.views import overview as ov
from mentor.serve.dashboard.views import reports as report_files
from mentor.serve.dashboard.views import runs as run_folders
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
    if run is not None and run_folders.run_dir(dash.ws, run) is None:
        raise HTTPException(404, "no such run")
    return run


Run = Depends(_known_run)


@router.get("/overview", response_model=s.Overview, responses=errors(404))
def overview(dash: Dash, run: str | None = Run) -> Any:
    return ov.overview(dash.ws, run)


@router.get("/status", response_model=s.Obj)
def status(dash: Dash) -> Any:
    """The status snapshot (``status/training_status.json``) as the training wrote it."""
    return read_status(dash.ws)


@router.get("/runs", response_model=s.Runs)
def runs(dash: Dash) -> Any:
    return {"runs": run_folders.runs(dash.ws)}


@router.get("/metrics", response_model=s.Metrics, responses=errors(404))
def metrics(
    dash: Dash, run: str | None = Run, since: int | None = None, lineage: bool = True
) -> Any:
    """The records of ``run``'s whole lineage (default: the newest run's) over the global step,
    file boundaries marked; ``lineage=false`` gives the one run."""
    return ov.metrics(dash.ws, run, since, lineage=lineage)


@router.get("/live", response_model=s.Live, responses=errors(404))
def live(dash: Dash, run: str | None = Run) -> Any:
    return live_view.live(dash.ws, run)


@router.get("/evolution", response_model=s.Evolution, responses=errors(404))
def evolution(dash: Dash, run: str | None = Run) -> Any:
    return evo.evolution(dash.ws, run)


@router.get("/evolution/diff", response_model=s.EvolutionDiff, responses=errors(404))
def evolution_diff(dash: Dash, probe: str, a: int, b: int, run: str | None = Run) -> Any:
    """A word-level diff of ``probe``'s answer between the snapshots of steps ``a`` and ``b``."""
    found = evo.evolution_diff(dash.ws, run, probe, a, b)
    if found is None:
        raise HTTPException(404, "no such snapshot or probe")
    return found


@router.get("/curve", response_model=s.Curve, responses=errors(404))
def curve(dash: Dash, run: str | None = Run) -> Any:
    """The learning curve and its verdicts (``mentor curve``): the newest run's lineage, or
    one ``run``."""
    return analysis.curve(dash.ws, dash.cfg, run)


@router.get("/business", response_model=s.Business)
def business(dash: Dash) -> Any:
    """Cost of training and evaluation, ROI per dataset, improvement across versions and the
    API's production figures (as ``mentor summary`` and the daily report show them)."""
    return analysis.business(dash.ws, dash.cfg)


@router.get("/compare/models", response_model=s.CompareModels)
def compare_models(dash: Dash) -> Any:
    """What the Compare page offers: the models and the configured benchmarks."""
    return {"models": analysis.models(dash.ws), "benchmarks": list(dash.cfg.eval.benchmarks)}


@router.get("/compare", response_model=s.Compare, responses=errors(404))
def compare(dash: Dash, a: str, b: str, bench: list[str] | None = Query(None)) -> Any:
    """``b`` against ``a`` from stored item scores (``mentor compare``, nothing generated)."""
    return analysis.compare(dash.ws, dash.cfg, a, b, benchmarks=bench)


@router.get("/evals", response_model=s.Evals)
def evals(dash: Dash) -> Any:
    return tables.evals(dash.ws)


@router.get("/versions", response_model=s.Versions)
def versions(dash: Dash) -> Any:
    return {"versions": tables.versions(dash.ws)}


@router.get("/reports", response_model=s.Reports)
def reports(dash: Dash) -> Any:
    return {"reports": report_files.report_list(dash.ws)}


@router.get("/events", response_model=s.Events)
def events(
    dash: Dash,
    kind: list[str] | None = Query(None),
    limit: int = Query(50, ge=1, le=500),
) -> Any:
    return {"events": tables.recent_events(dash.ws, kind, limit)}


@router.get("/alerts", response_model=s.Alerts)
def alerts(dash: Dash) -> Any:
    return {"alerts": tables.active_alerts(dash.ws)}
