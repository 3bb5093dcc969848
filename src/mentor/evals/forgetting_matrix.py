"""The forgetting matrix as data and as a self-contained HTML heatmap (``mentor forgetting``,
the dashboard's Forgetting page).

Rows are the lineage's files in the order they were first scored (the general probe last),
columns its versions; a cell is the change of the file's mean held-out loss since the version
that trained it (the probe: since the untrained base), with its 95% paired-bootstrap interval,
and ``significant`` when the rise exceeds ``forgetting.margin`` by the gate's test.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from mentor.store import forgetting as store


def matrix(conn: sqlite3.Connection, lineage_id: int | None = None) -> dict[str, Any]:
    """The matrix of a lineage (default: the one scored last); empty lists when none."""
    lid = lineage_id if lineage_id is not None else store.latest_lineage(conn)
    rows = store.lineage_rows(conn, lid) if lid is not None else []
    versions: list[str] = []
    files: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.version != store.BASE and r.version not in versions:
            versions.append(r.version)
        if r.file_hash not in files:
            trained = store.BASE if r.version == store.BASE else r.version
            files[r.file_hash] = {
                "hash": r.file_hash,
                "name": r.file_name,
                "kind": r.kind,
                "trained_in": trained,
            }
    order = [h for h, f in files.items() if f["kind"] != "probe"]
    order += [h for h, f in files.items() if f["kind"] == "probe"]
    at = {(r.file_hash, r.version): r for r in rows}
    cells: list[list[dict[str, Any] | None]] = []
    for h in order:
        line: list[dict[str, Any] | None] = []
        for v in versions:
            got = at.get((h, v))
            m = got.metrics if got is not None else {}
            line.append(
                None
                if got is None
                else {
                    "loss": got.loss,
                    "n": got.n,
                    "delta": m.get("delta"),
                    "ci": m.get("ci"),
                    "p_value": m.get("p_value"),
                    "significant": bool(m.get("significant")),
                    "ref_version": m.get("ref_version"),
                    "ref_loss": m.get("ref_loss"),
                    "metrics": m.get("metrics") or {},
                }
            )
        cells.append(line)
    return {
        "lineage_id": lid,
        "versions": versions,
        "files": [files[h] for h in order],
        "cells": cells,
    }


def figure(data: dict[str, Any]) -> Any:
    """A plotly heatmap: change of held-out loss since trained, a star where significant."""
    import plotly.graph_objects as go

    z = [[(c or {}).get("delta") for c in line] for line in data["cells"]]
    text = [
        [
            ""
            if c is None or c.get("delta") is None
            else f"{c['delta']:+.3f}{'*' if c.get('significant') else ''}"
            for c in line
        ]
        for line in data["cells"]
    ]
    names = [f["name"] for f in data["files"]]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=data["versions"],
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale="RdBu_r",
            zmid=0,
            colorbar={"title": {"text": "Δ loss"}},
            hovertemplate="%{y} @ %{x}: %{text} nats/token<extra></extra>",
        )
    )
    fig.update_layout(
        margin={"l": 160, "r": 20, "t": 20, "b": 40},
        yaxis={"autorange": "reversed"},
        height=max(240, 60 + 40 * len(names)),
    )
    return fig


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>forgetting matrix</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}.sig{color:#b00;font-weight:bold}</style></head>
<body><h1>Forgetting matrix (lineage {{ d.lineage_id }})</h1>
<p>Cell: change of the file's mean held-out loss (nats/token) since the version that trained it
(the general probe: since the untrained base); * = a rise significantly above the margin.</p>
{{ chart | safe }}
<table><tr><th>file</th><th>trained in</th>{% for v in d.versions %}<th>{{ v }}</th>{% endfor %}</tr>
{% for f in d.files %}{% set line = d.cells[loop.index0] %}<tr><td>{{ f.name }}</td><td>{{ f.trained_in }}</td>
{% for c in line %}<td{% if c and c.significant %} class="sig"{% endif %}>{% if c is none %}–{% elif c.delta is none %}{{ '%.3f' % c.loss }}{% else %}{{ '%+.3f' % c.delta }}{% if c.ci %} [{{ '%+.3f' % c.ci[0] }}, {{ '%+.3f' % c.ci[1] }}]{% endif %}{% endif %}</td>{% endfor %}</tr>
{% endfor %}</table></body></html>
"""


def page(data: dict[str, Any]) -> str:
    """A self-contained HTML page (plotly.js inlined): the heatmap and the table behind it."""
    from jinja2 import Environment

    chart = figure(data).to_html(full_html=False, include_plotlyjs=True) if data["files"] else ""
    return str(Environment(autoescape=True).from_string(PAGE).render(d=data, chart=chart))
