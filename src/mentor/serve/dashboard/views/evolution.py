"""The evolution page: probe answers at the log-spaced snapshots of a run, and their diffs."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

from mentor.paths import RunFolder, Workspace
from mentor.serve.dashboard.views.runs import run_dir

_STEP_FILE = re.compile(r"^step_(\d+)\.json$")
_TOKENS = re.compile(r"\w+|\s+|[^\w\s]")


def _snapshots(rd: Path) -> list[tuple[int, Path]]:
    d = RunFolder(rd).evolution
    if not d.is_dir():
        return []
    out = []
    for p in d.iterdir():
        m = _STEP_FILE.match(p.name)
        if m and p.is_file():
            out.append((int(m.group(1)), p))
    return sorted(out)


def _load(p: Path) -> dict[str, Any]:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _timeline_point(step: int, snap: dict[str, Any], pr: dict[str, Any]) -> dict[str, Any]:
    sc = pr.get("scores") or {}
    return {
        "step": step,
        "score": sc.get(snap.get("headline") or "", None),
        "scores": sc,
        "loss": pr.get("loss"),
        "matches": pr.get("matches"),
        "output": pr.get("model_output"),
    }


def evolution(ws: Workspace, run: str | None = None) -> dict[str, Any]:
    rd = run_dir(ws, run, need="has_evolution")
    if rd is None:
        return {"run": None, "steps": [], "probes": []}
    snaps = [(s, _load(p)) for s, p in _snapshots(rd)]
    probes: dict[str, dict[str, Any]] = {}
    headline_key = None
    for step, snap in snaps:
        headline_key = snap.get("headline") or headline_key
        for pr in snap.get("probes") or []:
            pid = str(pr.get("id"))
            entry = probes.setdefault(
                pid,
                {
                    "id": pid,
                    "tier": pr.get("tier"),
                    "prompt": pr.get("prompt"),
                    "golden": pr.get("golden"),
                    "timeline": [],
                },
            )
            entry["timeline"].append(_timeline_point(step, snap, pr))
    return {
        "run": rd.name,
        "headline": headline_key,
        "steps": [s for s, _ in snaps],
        "scores": [
            {
                "step": s,
                "solved_share": snap.get("solved_share"),
                "loss": snap.get("loss"),
                "scores": snap.get("scores"),
            }
            for s, snap in snaps
        ],
        "probes": list(probes.values()),
    }


def diff(a: str, b: str) -> list[dict[str, str]]:
    """Word-level diff ops (difflib): equal / insert / delete / replace with both sides' text."""
    ta, tb = _TOKENS.findall(a or ""), _TOKENS.findall(b or "")
    sm = difflib.SequenceMatcher(a=ta, b=tb, autojunk=False)
    return [
        {"op": op, "a": "".join(ta[i1:i2]), "b": "".join(tb[j1:j2])}
        for op, i1, i2, j1, j2 in sm.get_opcodes()
    ]


def evolution_diff(
    ws: Workspace, run: str | None, probe: str, a: int, b: int
) -> dict[str, Any] | None:
    rd = run_dir(ws, run, need="has_evolution")
    if rd is None:
        return None
    files = dict(_snapshots(rd))
    if a not in files or b not in files:
        return None

    def output(step: int) -> str | None:
        for pr in _load(files[step]).get("probes") or []:
            if str(pr.get("id")) == probe:
                return str(pr.get("model_output") or "")
        return None

    oa, ob = output(a), output(b)
    if oa is None or ob is None:
        return None
    ratio = difflib.SequenceMatcher(a=oa, b=ob, autojunk=False).ratio()
    return {
        "run": rd.name,
        "probe": probe,
        "a": a,
        "b": b,
        "similarity": ratio,
        "ops": diff(oa, ob),
    }
