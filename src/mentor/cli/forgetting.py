"""``mentor forgetting``: the forgetting matrix of the lineage (docs/forgetting.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mentor.cli.common import JsonOption, out, print_json, state


def register(app: typer.Typer) -> None:
    app.command("forgetting")(forgetting)


def forgetting(
    ctx: typer.Context,
    lineage: Annotated[
        int | None, typer.Option("--lineage", help="Lineage id (default: the one scored last).")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML heatmap here.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Earlier files' held-out loss after each version: change since trained, * = significant."""
    from mentor.evals.forgetting_matrix import matrix, page
    from mentor.paths import atomic_write_text
    from mentor.store import connect

    ws = state(ctx).workspace()
    conn = connect(ws.db)
    try:
        data = matrix(conn, lineage)
    finally:
        conn.close()
    if html is not None:
        atomic_write_text(html.expanduser().resolve(), page(data))
        data["html"] = str(html)
    if as_json:
        print_json(data)
        return
    if not data["files"]:
        out.print("no forgetting measurements yet (they follow each evaluated version)")
        return
    table = Table(title=f"forgetting matrix, lineage {data['lineage_id']} (Δ loss since trained)")
    table.add_column("file")
    table.add_column("trained in")
    for v in data["versions"]:
        table.add_column(v, justify="right")
    for f, line in zip(data["files"], data["cells"], strict=True):
        cells = []
        for c in line:
            if c is None:
                cells.append("-")
            elif c["delta"] is None:
                cells.append(f"{c['loss']:.3f}")
            else:
                mark = "[bold red]*[/]" if c["significant"] else ""
                cells.append(f"{c['delta']:+.3f}{mark}")
        table.add_row(escape(f["name"]), f["trained_in"], *cells)
    out.print(table)
    if html is not None:
        out.print(f"html: {html}")
