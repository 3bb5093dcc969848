"""The daily report: what was trained on a calendar day, what it bought, what it cost, and what
to do next; Markdown + self-contained HTML + JSON under ``reports/daily/``.

Everything comes from ``state.db`` and the run folders (through :mod:`.sources`), never from
logs. :func:`write_daily_report` is what ``mentor report daily`` and the daemon (at
``report.time``) call; it then notifies ``report.webhook`` and ``report.smtp`` when set.

Recommendations are derived from the data:

* still improving (the lineage's curve underfits, or the headline metric rose) -> more data;
* a tier that gained much less over the untrained model than the others -> more of that tier;
* overfitting in a run -> stop earlier, at the step the analyzer names;
* a version refused by the regression gate, or one whose headline metric fell -> which file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.analysis import costs, sources
from mentor.analysis.curve_data import curve_data
from mentor.analysis.tiers import lagging_tier, tier_accuracy
from mentor.config import Config
from mentor.errors import MentorError
from mentor.paths import Workspace, atomic_write_text

log = logging.getLogger(__name__)


def window(day: dt.date) -> tuple[float, float]:
    """[local midnight of ``day``, local midnight of the next day) as Unix times."""
    start = dt.datetime.combine(day, dt.time())
    return start.timestamp(), (start + dt.timedelta(days=1)).timestamp()


def _run_row(run: sources.Run) -> dict[str, Any]:
    m = run.summary.get("metrics") or {}
    util = run.mean_of("sys_gpu_util_percent")
    return {
        "run": run.id,
        "file": run.file,
        "status": run.summary.get("status"),
        "rows": int(run.summary.get("rows_trained") or 0),
        "steps": max(0, run.step_end - run.step_start),
        "step_end": run.step_end,
        "final_loss": m.get("loss"),
        "val_loss": m.get("val_loss"),
        "seconds": run.seconds,
        "tokens_per_s": m.get("tokens_per_s"),
        "gpu_util": util,
    }


def _training(runs: list[sources.Run]) -> dict[str, Any]:
    rows = [_run_row(r) for r in runs]
    util = [(r["gpu_util"], r["seconds"]) for r in rows if r["gpu_util"] is not None]
    secs = sum(s for _, s in util)
    return {
        "runs": rows,
        "files": sorted({r["file"] for r in rows if r["status"] == "completed"}),
        "rows": sum(r["rows"] for r in rows),
        "steps": sum(r["steps"] for r in rows),
        "seconds": sum(r["seconds"] for r in rows),
        "final_loss": rows[-1]["final_loss"] if rows else None,
        "gpu_util": (sum(u * s for u, s in util) / secs if secs else None) if util else None,
    }


def _curves(ws: Workspace, cfg: Config, runs: list[sources.Run]) -> dict[str, Any]:
    """The analyzer's verdicts on each of the day's runs and on the lineage as a whole."""
    out: dict[str, Any] = {"runs": {}, "lineage": None}
    for r in runs:
        try:
            out["runs"][r.id] = curve_data(ws, cfg, [r.id])["analysis"]
        except MentorError as err:
            log.info("curve of %s not analysed: %s", r.id, err)
    if runs:
        try:
            out["lineage"] = curve_data(ws, cfg, lineage=True)["analysis"]
        except MentorError as err:
            log.info("lineage curve not analysed: %s", err)
    return out


def _best(versions: list[sources.VersionInfo], metric: str) -> dict[str, Any] | None:
    scored = [v for v in versions if v.metric(metric) is not None]
    if not scored:
        return None
    best = max(scored, key=lambda v: (v.metric(metric), v.created_at))
    return {"version": best.short, "value": best.metric(metric), "step": best.steps}


def daily_data(ws: Workspace, cfg: Config, day: dt.date) -> dict[str, Any]:
    """Everything the day's report shows (JSON-able)."""
    since, until = window(day)
    metric = cfg.report.headline_metric
    runs = sources.runs_between(ws, since, until)
    versions = sources.versions(ws, until=until)
    today = [v for v in versions if v.created_at >= since]
    now, before = tier_accuracy(ws, cfg, until), tier_accuracy(ws, cfg, since)
    refused = sources.events_between(ws, ["gate.refused"], since, until)
    failed = sources.events_between(ws, ["job_failed"], since, until)
    data: dict[str, Any] = {
        "date": day.isoformat(),
        "since": since,
        "until": until,
        "metric": metric,
        "training": _training(runs),
        "versions": [
            {
                "version": v.short,
                "status": v.status,
                "files": [d.get("file") for d in v.data],
                "steps": v.steps,
                "value": v.metric(metric),
            }
            for v in today
        ],
        "best_today": _best(today, metric),
        "best_overall": _best(versions, metric),
        "tiers": {
            "now": now.to_dict(),
            "before": before.to_dict(),
            "change": {t: v - before.tiers[t] for t, v in now.tiers.items() if t in before.tiers},
        },
        "cost": costs.costs_between(ws, cfg, since, until),
        "roi": [
            r.to_dict()
            for r in costs.roi(ws, cfg, until=until)
            if r.version in {v.short for v in today}
        ],
        "improvement": costs.improvement(ws, cfg, until=until),
        "production": costs.production(ws),
        "refused": [
            {"version": e.version, "message": e.message.removeprefix(f"{e.version}: ")}
            for e in refused
        ],
        "failed_files": [e.message for e in failed],
        "lagging": lagging_tier(now, cfg.report.lagging_share),
        "curves": _curves(ws, cfg, runs),
    }
    data["recommendations"] = recommendations(data, versions)
    return data


def recommendations(data: dict[str, Any], versions: list[sources.VersionInfo]) -> list[str]:
    out: list[str] = []
    by_short = {v.short: v for v in versions}
    metric = data["metric"]
    lineage = data["curves"]["lineage"] or {}
    kinds = {f["kind"] for f in lineage.get("findings", [])}
    imp = data["improvement"]
    rising = len(imp) >= 2 and (imp[-1]["change"] or 0) > 0
    if "underfit" in kinds or rising:
        why = (
            f"{metric} rose {imp[-1]['change']:+.3f} with {imp[-1]['version']}"
            if rising
            else "the loss is still falling"
        )
        out.append(f"Still improving ({why}): give it more data.")
    lag = data["lagging"]
    if lag is not None:
        tier, gain, others = lag
        out.append(
            f"The {tier} tier lags: {gain:+.3f} over the untrained model against {others:+.3f} "
            f"for the other tiers: add more {tier} examples."
        )
    for run_id, analysis in data["curves"]["runs"].items():
        if any(f["kind"] == "overfit" for f in analysis.get("findings", [])):
            out.append(
                f"Overfitting in run {run_id}: stop at step {analysis['stop_step']} next time."
            )
    for r in data["refused"]:
        v = by_short.get(str(r["version"]).split("_", 1)[0])
        files = ", ".join(str(d.get("file")) for d in v.data) if v else "?"
        out.append(f"Regression: {r['version']} (trained on {files}) was refused: {r['message']}.")
    refused = {str(r["version"]).split("_", 1)[0] for r in data["refused"]}
    for v in data["versions"]:
        point = next((p for p in imp if p["version"] == v["version"]), None)
        if point and (point["change"] or 0) < 0 and v["version"] not in refused:
            out.append(
                f"{v['version']} scored {point['change']:+.3f} {metric} against the version "
                f"before it: check {', '.join(map(str, v['files']))}."
            )
    return out


@dataclass
class DailyReport:
    date: str
    markdown: Path
    html: Path
    json: Path
    data: dict[str, Any]
    deliveries: dict[str, str] = field(default_factory=dict)


def report_paths(ws: Workspace, day: dt.date) -> tuple[Path, Path, Path]:
    stem = ws.daily_reports / day.isoformat()
    return stem.with_suffix(".md"), stem.with_suffix(".html"), stem.with_suffix(".json")


def write_daily_report(
    ws: Workspace, cfg: Config, day: dt.date | None = None, *, notify: bool = True
) -> DailyReport:
    """Write ``reports/daily/<date>.md|.html|.json`` and send the configured notifications.

    ``day`` defaults to today (the day so far). A failed notification is logged and recorded in
    ``deliveries``; it never loses the written report.
    """
    from mentor.analysis import html
    from mentor.analysis import notify as notify_mod
    from mentor.analysis.daily_md import markdown

    day = day or dt.date.today()
    data = daily_data(ws, cfg, day)
    md_path, html_path, json_path = report_paths(ws, day)
    md = markdown(data)
    atomic_write_text(md_path, md)
    atomic_write_text(html_path, html.daily_page(data))
    atomic_write_text(json_path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    report = DailyReport(day.isoformat(), md_path, html_path, json_path, data)
    if notify:
        report.deliveries = notify_mod.send_all(cfg, data, md, html.daily_page(data, charts=False))
    return report
