"""``mentor queue``: list, add, move, remove and retry jobs."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mentor.cli.common import JsonOption, SetOption, out, print_json, state


def register(app: typer.Typer) -> None:
    q = typer.Typer(help="The training queue.", no_args_is_help=True)
    q.command("list")(queue_list)
    q.command("add")(queue_add)
    q.command("move")(queue_move)
    q.command("remove")(queue_remove)
    q.command("retry")(queue_retry)
    app.add_typer(q, name="queue")


def queue_list(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Finished jobs too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Pending jobs in the order they run (--all: every job)."""
    from mentor.store import connect, jobs

    with closing(connect(state(ctx).workspace().db)) as conn:
        listed = jobs.listing(conn) if all_ else jobs.pending(conn)
    if as_json:
        print_json({"jobs": [j.to_dict() for j in listed]})
        return
    t = Table("id", "state", "priority", "file", "rows", "attempts", "error")
    for j in listed:
        t.add_row(
            str(j.id),
            j.state,
            j.priority_name,
            j.name,
            f"{j.rows_done}/{j.rows_total or '?'}",
            str(j.attempts),
            (j.error or "")[:60],
        )
    out.print(t)


def queue_add(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .jsonl file (copied into the workspace).")],
    priority: Annotated[str, typer.Option("--priority", help="high | normal | low")] = "normal",
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate a file now and queue it (a refused file goes to data/failed/ with its reasons)."""
    from mentor.daemon import queue
    from mentor.models.loader import load_tokenizer
    from mentor.store import connect

    ws = state(ctx).workspace()
    cfg = state(ctx).config(overrides)
    with closing(connect(ws.db)) as conn:
        job = queue.add(
            ws,
            cfg,
            conn,
            file,
            priority=priority,
            tokenizer=lambda: load_tokenizer(cfg.model_path(ws.home)),
        )
    if as_json:
        print_json(job.to_dict())
    if job.state == "failed":
        raise queue.refused(job)
    if not as_json:
        out.print(f"job {job.id} queued: {job.name} ({job.rows_total} rows, {job.priority_name})")


def queue_move(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    priority: Annotated[str, typer.Option("--priority", help="high | normal | low")],
) -> None:
    """Change a pending job's priority."""
    from mentor.store import connect, jobs

    with closing(connect(state(ctx).workspace().db)) as conn:
        job = jobs.move(conn, job_id, priority)
    out.print(f"job {job.id}: priority {job.priority_name}")


def queue_remove(
    ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="Job id.")]
) -> None:
    """Take a waiting job off the queue (its file goes to data/failed/ with a note, never deleted)."""
    from mentor.daemon import queue
    from mentor.store import connect

    ws = state(ctx).workspace()
    with closing(connect(ws.db)) as conn:
        _, stored = queue.remove(ws, conn, job_id)
    out.print(f"job {job_id} removed; file kept at {stored}")


def queue_retry(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    overrides: SetOption = None,
) -> None:
    """Queue a failed, skipped or removed job again (attempts reset; validated again)."""
    from mentor.daemon import queue
    from mentor.models.loader import load_tokenizer
    from mentor.store import connect

    ws = state(ctx).workspace()
    cfg = state(ctx).config(overrides)
    with closing(connect(ws.db)) as conn:
        job = queue.retry(
            ws, cfg, conn, job_id, tokenizer=lambda: load_tokenizer(cfg.model_path(ws.home))
        )
    out.print(f"job {job_id}: {job.state}" + (f" ({job.error})" if job.error else ""))
