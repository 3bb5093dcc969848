"""The live page: the latest preview of the probe set, its trend, the last evaluations."""

from __future__ import annotations

from typing import Any

from mentor.monitor.status import read_status
from mentor.paths import RunFolder, Workspace
from mentor.serve.dashboard.views.jsonl import downsample, read_jsonl
from mentor.serve.dashboard.views.runs import run_dir
from mentor.serve.dashboard.views.tables import recent_evals

SUMMARY_KEYS = (
    "step",
    "ts",
    "headline",
    "scores",
    "solved",
    "n",
    "solved_share",
    "loss",
    "seconds",
    "adapters",
)


def live(ws: Workspace, run: str | None = None) -> dict[str, Any]:
    rd = run_dir(ws, run, need="has_previews")
    previews = read_jsonl(RunFolder(rd).previews) if rd else []
    previews.sort(key=lambda p: (p.get("step", 0), p.get("ts", 0)))
    latest = max(previews, key=lambda p: p.get("ts", 0)) if previews else None
    return {
        "run": rd.name if rd else None,
        "latest": latest,
        "trend": [{k: p.get(k) for k in SUMMARY_KEYS} for p in downsample(previews)],
        "evals": recent_evals(ws),
        "status_examples": read_status(ws).get("recent_examples") or [],
    }
