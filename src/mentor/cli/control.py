"""Control of the running daemon: ``pause``, ``resume``, ``skip``, ``stop`` and ``status``."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from mentor.cli.common import JsonOption, out, print_json, state


def register(app: typer.Typer) -> None:
    app.command("pause")(pause)
    app.command("resume")(resume)
    app.command("skip")(skip)
    app.command("stop")(stop)
    app.command("status")(status)


def pause(ctx: typer.Context) -> None:
    """Checkpoint within one step; the job keeps its position and the daemon idles (an evaluation is cut and runs again on resume)."""
    from mentor.daemon import client

    runs = client.pause(state(ctx).workspace())
    out.print(
        "pause requested" + ("" if runs else " (the daemon is not running: it starts paused)")
    )


def resume(ctx: typer.Context) -> None:
    """Resume after a pause: the paused job continues at its saved row."""
    from mentor.daemon import client

    client.resume(state(ctx).workspace())
    out.print("resume requested")


def skip(
    ctx: typer.Context,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept with the job).")] = None,
) -> None:
    """Checkpoint and skip the current file (its remaining rows are recorded); the next job starts."""
    from mentor.daemon import client

    client.skip(state(ctx).workspace(), reason)
    out.print("skip requested")


def stop(
    ctx: typer.Context,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the daemon exited.")
    ] = True,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait.")] = 300.0,
) -> None:
    """Checkpoint within one step and stop the daemon; the next start resumes there."""
    from mentor.daemon import client

    ws = state(ctx).workspace()
    pid = client.running(ws)
    waited = client.stop(ws, wait=wait, timeout=timeout)
    if waited is None:
        out.print("the daemon is not running")
    elif not wait:
        out.print(f"stop requested (daemon pid {pid})")
    else:
        out.print(f"daemon stopped in {waited:.1f}s")


def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """One screen (or one JSON object): state, job, file, step/total, loss, tokens/s, ETA, queue, eval, GPU."""
    from mentor.daemon.status import status_object

    s = status_object(state(ctx).workspace())
    if as_json:
        print_json(s)
        return
    out.print(_table(s))


def _table(s: dict[str, Any]) -> Table:
    t = Table(show_header=False, box=None)
    t.add_row("state", f"{s['state']}" + (f" (pid {s['pid']})" if s["pid"] else ""))
    if s["request"]:
        ago = time.time() - float(s["request"].get("ts") or time.time())
        t.add_row("request", f"{s['request']['action']} ({ago:.0f}s ago, not yet acted on)")
    if s["job"]:
        j = s["job"]
        t.add_row(
            "job", f"#{j['id']} {j['name']} [{j['state']}] rows {j['rows_done']}/{j['rows_total']}"
        )
    if s["evaluation"]:
        e = s["evaluation"]
        t.add_row("evaluation", f"{e.get('kind')} of {e.get('version')}")
    if s["step"] is not None:
        t.add_row("step", f"{s['step']}/{s['total']} (global {s['global_step']})")
    for key, label in (
        ("loss", "loss"),
        ("validation_loss", "val loss"),
        ("tokens_per_sec", "tokens/s"),
    ):
        if s[key] is not None:
            t.add_row(label, f"{s[key]:.4g}")
    if s["eta_s"] is not None:
        t.add_row("ETA", f"{s['eta_s'] / 60:.1f} min")
    t.add_row(
        "queue",
        f"{len(s['queue'])} waiting "
        + ", ".join(f"#{j['id']} {j['name']} ({j['priority']})" for j in s["queue"][:5]),
    )
    t.add_row("serving", str(s["serving_version"] or "-"))
    if s["last_eval"]:
        t.add_row("last eval", s["last_eval"]["message"])
    for g in s["gpu"]:
        t.add_row(
            "GPU",
            ", ".join(
                f"{k}={v}"
                for k, v in g.items()
                if k in ("name", "util_percent", "mem_used_gib", "mem_total_gib")
            ),
        )
    for a in s["alerts"]:
        t.add_row("[red]alert[/]", str(a))
    if s["error_message"]:
        t.add_row("[red]error[/]", str(s["error_message"]))
    return t
