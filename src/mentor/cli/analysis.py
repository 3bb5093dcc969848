"""``mentor curve``, ``mentor compare`` and ``mentor report daily``: the analysis tools."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mentor.cli.common import (
    JsonOption,
    SetOption,
    out,
    print_json,
    progress_bar,
    state,
    task_progress,
)
from mentor.errors import ConfigError

HtmlOption = Annotated[
    Path | None, typer.Option("--html", help="Also write a self-contained HTML report here.")
]


def register(app: typer.Typer) -> None:
    app.command("curve")(curve)
    app.command("compare")(compare)
    report = typer.Typer(help="Reports: the daily report.", no_args_is_help=True)
    report.command("daily")(daily)
    app.add_typer(report, name="report")


def _f(v: Any, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec) if isinstance(v, int | float) else str(v)


def _write(path: Path, text: str) -> None:
    from mentor.paths import atomic_write_text

    atomic_write_text(path.expanduser().resolve(), text)


def curve(
    ctx: typer.Context,
    runs: Annotated[
        list[str] | None, typer.Argument(help="Run ids (default: the newest run).")
    ] = None,
    lineage: Annotated[
        bool, typer.Option("--lineage", help="The newest run's whole lineage, file by file.")
    ] = False,
    html: HtmlOption = None,
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Learning curve: loss, validation loss, LR, eval metrics; verdicts and a recommendation."""
    from mentor.analysis.curve_data import curve_data

    st = state(ctx)
    data = curve_data(st.workspace(), st.config(overrides), runs or None, lineage=lineage)
    if html is not None:
        from mentor.analysis.html import curve_page

        _write(html, curve_page(data))
        data["html"] = str(html)
    if as_json:
        print_json(data)
        return
    table = Table(title="runs")
    for col in ("run", "file", "steps", "status"):
        table.add_column(col)
    for r in data["runs"]:
        table.add_row(r["id"], r["file"], f"{r['step_start']}-{r['step_end']}", str(r["status"]))
    out.print(table)
    for line in data["analysis"]["lines"]:
        out.print(escape(line), highlight=False)
    if html is not None:
        out.print(f"html: {html}")


def compare(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="Model A: base | current | vNNN | PATH.")],
    b: Annotated[str, typer.Argument(help="Model B: base | current | vNNN | PATH.")],
    bench: Annotated[
        list[str] | None,
        typer.Option("--bench", help="Benchmark (repeatable; default eval.benchmarks)."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Compare on a JSONL file instead.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="First N items of each task.")
    ] = None,
    loss: Annotated[
        bool, typer.Option("--loss/--no-loss", help="Also compare the average loss per item.")
    ] = True,
    stored_only: Annotated[
        bool,
        typer.Option("--stored-only", help="Use stored item scores only; generate nothing."),
    ] = False,
    backend: Annotated[str, typer.Option("--backend", help="Engine backend: hf | vllm.")] = "hf",
    html: HtmlOption = None,
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare two models on the same items: per-tier table, paired tests, intervals, MDE."""
    from mentor.analysis.compare import compare as run_compare

    if data is not None and bench:
        raise ConfigError("give --bench or --data, not both")
    st = state(ctx)
    ws, cfg = st.workspace(), st.config(overrides)
    with progress_bar(disable=as_json, transient=True) as bar:
        progress = task_progress(bar)
        result = run_compare(
            ws,
            cfg,
            a,
            b,
            benchmarks=bench or None,
            data=data,
            limit=limit,
            loss=loss,
            evaluate_missing=not stored_only,
            backend=backend,
            progress=progress,
        )
    if html is not None:
        from mentor.analysis.html import compare_page

        _write(html, compare_page(result))
        result["html"] = str(html)
    if as_json:
        print_json(result)
        return
    for t in result["tasks"]:
        _compare_table(t, result)
    for line in result["verdict"]:
        out.print(escape(line), highlight=False)
    if html is not None:
        out.print(f"html: {html}")


def _compare_table(t: dict[str, Any], result: dict[str, Any]) -> None:
    table = Table(title=f"{t['name']} (n={t['n']}): A={result['a']['ref']}, B={result['b']['ref']}")
    for col in ("tier", "metric", "n", "A", "B", "B - A", "95% CI", "p", "MDE", "winner"):
        table.add_column(col, justify="left" if col in ("tier", "metric", "winner") else "right")
    shown = [t["headline"], "loss"]
    for tier, ms in [*sorted(t["tiers"].items()), ("overall", t["metrics"])]:
        for m in shown:
            d = ms.get(m)
            if d is None:
                continue
            table.add_row(
                f"[bold]{tier}[/]" if tier == "overall" else tier,
                m,
                str(d["n"]),
                _f(d["a"]),
                _f(d["b"]),
                _f(d["delta"], "+.3f"),
                f"[{_f(d['ci'][0])}, {_f(d['ci'][1])}]",
                _f(d["p_value"], ".3g"),
                _f(d["mde"]),
                d["winner"],
            )
    rates = t["tokens_per_s"]
    table.add_row(
        "", "tokens/s", "", _f(rates["a"], ".1f"), _f(rates["b"], ".1f"), "", "", "", "", ""
    )
    out.print(table)


def daily(
    ctx: typer.Context,
    date: Annotated[
        str | None, typer.Option("--date", help="Day to report, YYYY-MM-DD (default: today).")
    ] = None,
    notify: Annotated[
        bool,
        typer.Option("--notify/--no-notify", help="Send to report.webhook / report.smtp."),
    ] = True,
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """The daily report: training, evaluations per tier, cost, ROI, production, recommendations."""
    from mentor.analysis.daily import write_daily_report

    try:
        day = dt.date.fromisoformat(date) if date else None
    except ValueError:
        raise ConfigError(f"--date {date!r}: expected YYYY-MM-DD") from None
    st = state(ctx)
    report = write_daily_report(st.workspace(), st.config(overrides), day, notify=notify)
    if as_json:
        print_json(
            {
                "date": report.date,
                "markdown": report.markdown,
                "html": report.html,
                "json": report.json,
                "deliveries": report.deliveries,
                "report": report.data,
            }
        )
        return
    from rich.markdown import Markdown

    out.print(Markdown(report.markdown.read_text(encoding="utf-8")))
    for channel, status in report.deliveries.items():
        out.print(f"{channel}: {escape(status)}", highlight=False)
    out.print(f"report: {report.markdown} and {report.html.name}")
