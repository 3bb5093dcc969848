"""The learning curve of runs or of a whole lineage, read from the workspace and analysed.

:func:`curve_data` is what ``mentor curve``, its HTML page and the dashboard share: one JSON-able
dict with the series (training loss raw and smoothed, validation loss, LR, tokens/s), the file
boundaries, the eval metric of each version at its step, and the analyzer's verdicts.
"""

from __future__ import annotations

from typing import Any

from mentor.analysis import sources
from mentor.analysis.curve import EvalPoint, Finding, analyze
from mentor.analysis.series import smooth
from mentor.config import Config
from mentor.errors import NotFoundError
from mentor.paths import Workspace

SERIES = {
    "loss": "loss",
    "val_loss": "val_loss",
    "lr": "lr",
    "tokens_per_s": "tokens_per_s",
    "grad_norm": "grad_norm",
}


def select_runs(
    ws: Workspace, run_ids: list[str] | None = None, *, lineage: bool = False
) -> list[sources.Run]:
    """The named runs, the newest run's whole lineage, or (default) the newest run."""
    if run_ids:
        runs = [sources.load_run(ws, r) for r in run_ids]
        return sorted(runs, key=lambda r: (r.step_start, r.started_at))
    if lineage:
        runs = sources.lineage_runs(ws)
    else:
        ids = sources.run_ids(ws)
        runs = [sources.load_run(ws, ids[-1])] if ids else []
    if not runs:
        raise NotFoundError(f"{ws.runs}: no training runs yet", hint="train a file first")
    return runs


def merged_series(runs: list[sources.Run], key: str) -> tuple[list[int], list[float]]:
    """One series over several runs by global step; a step logged again by a later run (after a
    resume from an earlier checkpoint) takes the later run's value."""
    by_step: dict[int, float] = {}
    for run in runs:
        steps, values = run.series(key)
        by_step.update(zip(steps, values, strict=True))
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def preview_series(runs: list[sources.Run]) -> dict[str, Any]:
    """Live-preview share solved on the probe puzzles by step (the runs' ``previews.jsonl``)."""
    by_step: dict[int, float] = {}
    headline = None
    for run in runs:
        for p in run.previews:
            if isinstance(p.get("step"), int) and isinstance(p.get("solved_share"), int | float):
                by_step[p["step"]] = float(p["solved_share"])
                headline = p.get("headline") or headline
    steps = sorted(by_step)
    return {"steps": steps, "values": [by_step[s] for s in steps], "metric": headline}


def eval_points(
    ws: Workspace, runs: list[sources.Run], metric: str, *, lineage: bool
) -> list[EvalPoint]:
    """The ``metric`` of each version made from these runs (a lineage: all of its versions)."""
    ids = {r.id for r in runs}
    lineages = {r.lineage_id for r in runs}
    out = []
    for v in sources.versions(ws):
        value, step = v.metric(metric), v.steps
        if value is None or step is None:
            continue
        mine = any(d.get("run_id") in ids for d in v.data) or (
            lineage and v.manifest.get("lineage_id") in lineages
        )
        if mine:
            out.append(EvalPoint(step, v.short, metric, value))
    return sorted(out, key=lambda e: e.step)


def early_stops(runs: list[sources.Run]) -> list[dict[str, Any]]:
    """Where early stopping ended a file (``stopped_at``; None when the file ended below its
    best) and the step whose checkpoint the lineage kept (from each run's ``summary.json``)."""
    out = []
    for r in runs:
        info = (r.summary.get("metrics") or {}).get("early_stop")
        if isinstance(info, dict) and info.get("kept_step") is not None:
            out.append({"run": r.id, "file": r.file, **info})
    return out


def curve_data(
    ws: Workspace, cfg: Config, run_ids: list[str] | None = None, *, lineage: bool = False
) -> dict[str, Any]:
    """Series, file boundaries, eval points and verdicts of the selected runs (JSON-able)."""
    runs = select_runs(ws, run_ids, lineage=lineage)
    series = {name: merged_series(runs, key) for name, key in SERIES.items()}
    steps, loss = series["loss"]
    vsteps, vloss = series["val_loss"]
    lsteps, lr = series["lr"]
    evals = eval_points(ws, runs, cfg.report.headline_metric, lineage=lineage)
    result = analyze(
        steps,
        loss,
        cfg.report.curve,
        val_steps=vsteps,
        val_loss=vloss,
        lr_steps=lsteps,
        lr=lr,
        evals=evals,
    )
    stops = early_stops(runs)
    for e in stops:  # a finding each, so the text, the HTML page and --json all show it
        where = f"stopped at step {e['stopped_at']}" if e.get("stopped_at") else "ended"
        result.findings.append(
            Finding(
                "ok",
                "early_stop",
                f"early stopping: {e['file']} {where}; kept the best checkpoint, step "
                f"{e['kept_step']} ({e.get('metric')}={e.get('best')})",
                step=e.get("stopped_at") or e["kept_step"],
                evidence=e,
            )
        )
    boundaries = [
        {"step": r.step_start, "file": r.file, "run": r.id}
        for i, r in enumerate(runs)
        if i == 0 or r.file_hash != runs[i - 1].file_hash
    ]
    return {
        "early_stops": stops,
        "runs": [
            {
                "id": r.id,
                "file": r.file,
                "file_hash": r.file_hash,
                "step_start": r.step_start,
                "step_end": r.step_end,
                "status": r.summary.get("status"),
            }
            for r in runs
        ],
        "lineage": lineage,
        "series": {
            "loss": {"steps": steps, "values": loss, "smooth": smooth(loss, cfg.report.curve)},
            **{
                name: {"steps": s, "values": v} for name, (s, v) in series.items() if name != "loss"
            },
        },
        "previews": preview_series(runs),
        "boundaries": boundaries,
        "evals": [e.__dict__ for e in evals],
        "metric": cfg.report.headline_metric,
        "analysis": result.to_dict(),
    }
