"""The demo's ending: the learning curve, the base-vs-final comparison, the daily report,
``<workspace>/demo-summary.json`` and ``<workspace>/reports/demo.html``.

Every figure comes from what the run stored: the per-version scores are the fixed held-out
set's evaluations in ``store/evals`` (:func:`mentor.demo.run.score`), the comparison is
:func:`mentor.analysis.compare.compare` on the same items (stored scores reused, nothing generated
again), the curve is :func:`mentor.analysis.curve_data.curve_data` over the lineage.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from mentor.paths import atomic_write_text
from mentor.tasks.syllo import demo as settings

if TYPE_CHECKING:
    from mentor.demo.run import DemoRun, VersionScore

SUMMARY_FILE = "demo-summary.json"
PAGE_FILE = "demo.html"


def peak_rss_gib() -> float:
    """Peak resident memory of this process and of its finished children (the daemon's)."""
    scale = 2**30 if sys.platform == "darwin" else 2**20  # ru_maxrss: bytes on macOS, KiB else
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, kids) / scale, 3)


def versions_figure(scores: list[VersionScore]) -> Any:
    """Each metric on the fixed held-out set per version, with its 95% interval."""
    import plotly.graph_objects as go

    fig = go.Figure()
    names = [s.version for s in scores]
    for m in settings.METRICS:
        ys = [s.metrics.get(m) for s in scores]
        lo = [
            y - s.intervals[m][0] if m in s.intervals and y is not None else 0
            for s, y in zip(scores, ys, strict=True)
        ]
        hi = [
            s.intervals[m][1] - y if m in s.intervals and y is not None else 0
            for s, y in zip(scores, ys, strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=names,
                y=ys,
                name=m,
                mode="lines+markers",
                error_y={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo},
            )
        )
    fig.update_layout(
        title="held-out demo puzzles per version (95% intervals)",
        yaxis={"range": [0, 1.05]},
        height=420,
    )
    return fig


PAGE = """
<p class="meta">seed {{ s.seed }} &middot; {{ s.files | length }} files, {{ s.puzzles }} training puzzles over {{ s.words }} words &middot; {{ s.heldout }} held-out puzzles (never trained) &middot; {{ s.steps }} optimizer steps &middot; {{ duration(s.seconds.total) }}</p>
<ul class="verdicts">{% for line in verdict %}<li>{{ line }}</li>{% endfor %}</ul>
<table><tr><th>version</th><th>file</th><th>step</th><th>gate</th>
{% for m in metrics %}<th>{{ m }}</th><th>95% CI</th><th>p vs base</th>{% endfor %}</tr>
{% for v in s.versions %}<tr><td>{{ v.version }}</td><td>{{ v.file or '' }}</td><td>{{ v.step if v.step is not none else '' }}</td><td>{{ v.gate }}</td>
{% for m in metrics %}<td>{{ fmt(v.metrics[m]) }}</td><td>{% if v.intervals[m] %}[{{ fmt(v.intervals[m][0]) }}, {{ fmt(v.intervals[m][1]) }}]{% endif %}</td>
<td>{{ '%.3g' % v.p_value[m] if v.p_value[m] is not none else '' }}</td>{% endfor %}</tr>{% endfor %}</table>
{{ versions_fig | safe }}
<h2>Learning curve</h2>
<ul class="verdicts">{% for line in curve.analysis.lines %}<li>{{ line }}</li>{% endfor %}</ul>
{{ curve_fig | safe }}
"""


def write_page(
    run: DemoRun, summary: dict[str, Any], curve: dict[str, Any], verdict: list[str]
) -> str:
    from mentor.analysis import html

    figs = html.Figures()
    body = html.render(
        PAGE,
        s=summary,
        metrics=settings.METRICS,
        verdict=verdict,
        curve=curve,
        versions_fig=figs.html(versions_figure(run.scores)),
        curve_fig=figs.html(html.curve_figure(curve)),
    )
    path = run.ws.reports / PAGE_FILE
    atomic_write_text(path, html.page("mentor demo", body))
    return str(path)


def finish(run: DemoRun, say: Callable[[str], None]) -> dict[str, Any]:
    """The analyses after the last version; writes the summary JSON and the page."""
    from mentor.analysis import html
    from mentor.analysis.compare import compare
    from mentor.analysis.curve_data import curve_data
    from mentor.analysis.daily import write_daily_report

    ws, cfg = run.ws, run.cfg
    ws.reports.mkdir(parents=True, exist_ok=True)
    base, final = run.scores[0], run.scores[-1]
    curve = curve_data(ws, cfg, lineage=True) if len(run.scores) > 1 else None
    if curve is not None:
        atomic_write_text(ws.reports / "demo-curve.html", html.curve_page(curve))
    cmp = compare(ws, cfg, "base", final.version, data=run.heldout, loss=False)
    atomic_write_text(ws.reports / "demo-compare.json", json.dumps(cmp, indent=2, default=str))
    atomic_write_text(ws.reports / "demo-compare.html", html.compare_page(cmp))
    daily = write_daily_report(ws, cfg, notify=False)
    overall = cmp["overall"]
    summary: dict[str, Any] = {
        "workspace": str(ws.home),
        "seed": run.options.seed,
        "words": settings.WORDS,
        "puzzles": run.options.puzzles,
        "heldout": run.options.heldout,
        "files": [f.name for f in run.files],
        "cut_by_deadline": run.cut_by_deadline,
        "steps": final.step,
        "final_version": final.version,
        "before": {m: base.metrics.get(m) for m in settings.METRICS},
        "after": {m: final.metrics.get(m) for m in settings.METRICS},
        "p_value": {m: overall[m]["p_value"] if m in overall else None for m in settings.METRICS},
        "after_intervals": final.intervals,
        "versions": [asdict(s) for s in run.scores],
        "seconds": {
            "total": round(time.time() - run.started, 1),
            "train_and_daemon_eval": round(run.train_seconds, 1),
            "heldout_evals": round(sum(s.seconds for s in run.scores), 1),
        },
        "peak_rss_gib": peak_rss_gib(),
        "artifacts": {
            "curve": str(ws.reports / "demo-curve.html") if curve is not None else None,
            "comparison": str(ws.reports / "demo-compare.html"),
            "daily_report": str(daily.html),
            "page": str(ws.reports / PAGE_FILE),
        },
    }
    if curve is not None:
        write_page(run, summary, curve, list(cmp.get("verdict") or []))
    else:
        summary["artifacts"]["page"] = None
    atomic_write_text(ws.home / SUMMARY_FILE, json.dumps(summary, indent=2, default=str) + "\n")
    say(f"summary: {ws.home / SUMMARY_FILE}; page: {summary['artifacts']['page']}")
    return summary
