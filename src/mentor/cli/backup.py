"""``mentor backup``: create, list, verify, restore and prune verified backups."""

from __future__ import annotations

from contextlib import closing
from typing import Annotated

import typer
from rich.table import Table

from mentor.cli.common import JsonOption, SetOption, YesOption, fmt_ts, out, print_json, state


def register(app: typer.Typer) -> None:
    b = typer.Typer(help="Verified backups.", no_args_is_help=True)
    b.command("create")(backup_create)
    b.command("list")(backup_list)
    b.command("verify")(backup_verify)
    b.command("restore")(backup_restore)
    b.command("prune")(backup_prune)
    app.add_typer(b, name="backup")


def backup_create(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="Kept in the backup's name.")] = "manual",
    as_json: JsonOption = False,
) -> None:
    """Back up the live lineage, mentor.yaml and state.db (verified)."""
    from mentor.daemon import backups
    from mentor.store import connect

    ws = state(ctx).workspace()
    with closing(connect(ws.db)) as conn:
        b = backups.create(
            ws,
            conn,
            {"current": ws.current, "mentor.yaml": ws.config_file},
            reason=reason,
            include_db=True,
        )
    if as_json:
        print_json(b.to_dict())
    else:
        out.print(f"backup {b.id} created and verified ({b.size / 2**20:.1f} MiB)")


def backup_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every backup, newest first."""
    from mentor.daemon import backups
    from mentor.store import connect

    ws = state(ctx).workspace()
    with closing(connect(ws.db)) as conn:
        items = backups.listing(ws, conn)
    if as_json:
        print_json({"backups": [b.to_dict() for b in items]})
        return
    t = Table("id", "reason", "created", "verified", "MiB", "contents")
    for b in items:
        t.add_row(
            b.id,
            b.reason,
            fmt_ts(b.created_at),
            fmt_ts(b.verified_at),
            f"{b.size / 2**20:.1f}",
            ", ".join(b.sources),
        )
    out.print(t)


def backup_verify(
    ctx: typer.Context,
    backup_id: Annotated[str | None, typer.Argument(help="Backup id (default: all).")] = None,
) -> None:
    """Check every file of a backup (or of all) against its sha256 manifest (exit 7 on a mismatch)."""
    from mentor.daemon import backups
    from mentor.store import connect

    ws = state(ctx).workspace()
    with closing(connect(ws.db)) as conn:
        ids = [backup_id] if backup_id else [b.id for b in backups.listing(ws, conn)]
        for i in ids:
            backups.verify(ws, conn, i)
            out.print(f"{i}: ok")


def backup_restore(
    ctx: typer.Context,
    backup_id: Annotated[str, typer.Argument(help="Backup id.")],
    yes: YesOption = False,
) -> None:
    """Put a backup's files back (verified first; what it replaces is backed up first)."""
    from mentor.daemon import backups, client
    from mentor.store import connect

    ws = state(ctx).workspace()
    with closing(connect(ws.db)) as conn:
        b = backups.verify(ws, conn, backup_id)
        if not yes:
            out.print(f"would restore {', '.join(b.sources)} from {b.id}; pass --yes to do it")
            return
        client.refuse_if_busy(ws)
        b, safety = backups.restore(
            ws, conn, backup_id, daemon_running=client.running(ws) is not None
        )
    out.print(f"restored {b.id}" + (f"; previous state backed up as {safety.id}" if safety else ""))


def backup_prune(
    ctx: typer.Context,
    yes: YesOption = False,
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete backups outside the policy (last K, one per day for D days, sole copies kept). Dry run unless --yes."""
    from mentor.daemon import backups
    from mentor.store import connect

    ws = state(ctx).workspace()
    cfg = state(ctx).config(overrides)
    with closing(connect(ws.db)) as conn:
        keep, delete = backups.prune_plan(
            ws, conn, keep_last=cfg.daemon.keep_last, keep_daily_days=cfg.daemon.keep_daily_days
        )
        if yes:
            for b in delete:
                backups.delete(ws, conn, b.id)
    if as_json:
        print_json(
            {"keep": [b.id for b in keep], "delete": [b.id for b in delete], "dry_run": not yes}
        )
        return
    for b in delete:
        out.print(f"{'deleted' if yes else 'would delete'} {b.id}")
    out.print(f"{len(keep)} kept" + ("" if yes else " (dry run: pass --yes to delete)"))
