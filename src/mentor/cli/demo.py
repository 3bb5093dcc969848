"""``mentor demo``: the whole system on the tiny model (``mentor.demo``), with a progress bar per
file and a table of every version's held-out scores at the end."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from mentor.cli.common import JsonOption, SetOption, console, out, print_json, progress_bar


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def _short(x: float) -> str:
    return f"{x:.2f}".removeprefix("0") if 0 <= x < 1 else f"{x:.2f}"


def _cell(v: dict[str, Any], m: str) -> str:
    """``0.48 [.35,.62] p=3e-06``: the value, its 95% interval, the paired p against base."""
    x = v["metrics"].get(m)
    if x is None:
        return ""
    ci = v["intervals"].get(m)
    p = v["p_value"].get(m)
    text = f"{x:.2f}"
    if ci:
        text += f" [{_short(ci[0])},{_short(ci[1])}]"
    if p is not None and v["gate"] != "base":
        text += f" p={p:.1g}"
    return text


def _table(summary: dict[str, Any]) -> Any:
    from rich.table import Table

    from mentor.tasks.syllo.demo import METRICS

    t = Table(title=f"held-out demo puzzles (n={summary['heldout']}, never trained)")
    for col in ("version", "step", "gate", *METRICS):
        left, fixed = col in ("version", "gate"), col not in METRICS  # metrics wrap on 80 columns
        t.add_column(col, justify="left" if left else "right", no_wrap=fixed)
    for v in summary["versions"]:
        t.add_row(
            v["version"],
            "" if v["step"] is None else str(v["step"]),
            v["gate"],
            *(_cell(v, m) for m in METRICS),
        )
    return t


def demo(
    keep: Annotated[
        Path | None,
        typer.Option(
            "--keep",
            help="Keep the workspace in this (new) folder; default: a temporary one, removed at the end.",
        ),
    ] = None,
    minutes: Annotated[
        float | None,
        typer.Option(
            "--minutes",
            help="Drop no further file after this many minutes (budgets are puzzles, not time).",
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="Train this model directory instead of building the demo model."
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the model, the data and training.")
    ] = 0,
    puzzles: Annotated[
        int | None, typer.Option("--puzzles", help="Training puzzles over all files.")
    ] = None,
    files: Annotated[
        int | None, typer.Option("--files", help="Training files dropped one after another.")
    ] = None,
    heldout: Annotated[
        int | None, typer.Option("--heldout", help="Held-out puzzles scored after each file.")
    ] = None,
    no_dashboard: Annotated[
        bool, typer.Option("--no-dashboard", help="Do not start the dashboard.")
    ] = False,
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """The whole system on the tiny model: SYLLO files into the inbox, the daemon trains them as
    one lineage, every version is evaluated and gated; then the learning curve, base vs final
    with significance, the daily report, a summary table, demo-summary.json and one HTML page."""
    from mentor.demo.run import DemoOptions, run_demo
    from mentor.demo.summary import SUMMARY_FILE
    from mentor.tasks.syllo import demo as settings

    home = keep or Path(tempfile.mkdtemp(prefix="mentor-demo-")) / "workspace"
    opts = DemoOptions(
        workspace=home,
        seed=seed,
        puzzles=puzzles or settings.PUZZLES,
        files=files or settings.FILES,
        heldout=heldout or settings.HELDOUT,
        model=model,
        minutes=minutes,
        dashboard=not no_dashboard,
        overrides=list(overrides or []),
    )

    try:
        with progress_bar(disable=as_json, transient=True) as bar:
            run = run_demo(opts, say=console.print, on_score=_print_score, tick=_ticker(bar))
        import json

        summary = json.loads((run.ws.home / SUMMARY_FILE).read_text(encoding="utf-8"))
        if as_json:
            print_json(summary)
        else:
            _print_summary(summary)
    finally:
        if keep is None:
            shutil.rmtree(home.parent, ignore_errors=True)
            if not as_json:
                console.print(f"removed the temporary workspace {home} (--keep DIR keeps one)")


def _print_summary(summary: dict[str, Any]) -> None:
    """The per-version table, before -> after with the paired test, cost and the page."""
    from mentor.tasks.syllo.demo import METRICS

    out.print(_table(summary))
    b, a, p = summary["before"], summary["after"], summary["p_value"]
    for m in METRICS:
        pv = p.get(m)
        test = f" (paired test p={pv:.2g})" if pv is not None else ""
        out.print(f"{m}: {b[m]:.2f} -> {a[m]:.2f}{test}")
    seconds, peak = summary["seconds"]["total"], summary["peak_rss_gib"]
    out.print(f"steps {summary['steps']}, {seconds:.0f} s, peak memory {peak:.2f} GiB")
    out.print(f"page: {summary['artifacts']['page']}")


def _ticker(bar: Any) -> Any:
    """A progress row per file: in the inbox, then its job's rows done and state."""
    tasks: dict[str, Any] = {}

    def tick(name: str, job: Any) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=None, info="in the inbox")
        if job is not None:
            total = job.rows_total or None
            bar.update(tasks[name], total=total, completed=job.rows_done, info=job.state)

    return tick


def _print_score(s: Any) -> None:
    from mentor.tasks.syllo.demo import METRICS

    shown = "  ".join(f"{m} {s.metrics.get(m, float('nan')):.2f}" for m in METRICS)
    console.print(f"{s.version} ({s.gate}): {shown}")
