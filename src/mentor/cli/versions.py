"""``mentor versions`` (list, show, diff, restore, delete) and ``mentor consolidate``."""

from __future__ import annotations

import time
from contextlib import closing
from typing import Annotated

import typer
from rich.table import Table

from mentor.cli.common import JsonOption, SetOption, YesOption, fmt_ts, out, print_json, state


def register(app: typer.Typer) -> None:
    app.command("consolidate")(consolidate)
    v = typer.Typer(help="Immutable versions vNNN.", no_args_is_help=True)
    v.command("list")(versions_list)
    v.command("show")(versions_show)
    v.command("diff")(versions_diff)
    v.command("restore")(versions_restore)
    v.command("delete")(versions_delete)
    app.add_typer(v, name="versions")


def versions_list(
    ctx: typer.Context,
    as_json: JsonOption = False,
    deleted: Annotated[bool, typer.Option("--deleted", help="Deleted ones too.")] = False,
) -> None:
    """Every version, oldest first."""
    from mentor.store import connect, kv
    from mentor.store import versions as version_rows
    from mentor.store.kv import Key

    with closing(connect(state(ctx).workspace().db)) as conn:
        items = version_rows.listing(conn, include_deleted=deleted)
        serving = kv.get(conn, Key.SERVING_VERSION)
    if as_json:
        print_json({"versions": [v.to_dict() for v in items], "serving": serving})
        return
    t = Table("version", "kind", "status", "created", "parent", "metrics")
    for v in items:
        mark = " *" if serving in (v.name, v.short) else ""
        metrics = ", ".join(
            f"{k}={val:.3g}"
            for k, val in list(v.metrics.items())[:4]
            if isinstance(val, int | float)
        )
        t.add_row(
            v.name + mark,
            v.kind,
            v.status,
            fmt_ts(v.created_at),
            (v.parent or "-").split("_")[0],
            metrics,
        )
    out.print(t)


def versions_show(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="vNNN")],
    as_json: JsonOption = False,
) -> None:
    """A version's manifest, metrics and files."""
    from mentor.daemon import versions
    from mentor.store import connect

    ws = state(ctx).workspace()
    with closing(connect(ws.db)) as conn:
        info = versions.show(ws, conn, version)
    if as_json:
        print_json(info)
        return
    t = Table(show_header=False, box=None)
    for k in ("name", "kind", "status", "parent", "path", "size", "serving", "description"):
        t.add_row(k, str(info[k]))
    man = info["manifest"]
    t.add_row("steps", str(man.get("steps")))
    t.add_row(
        "data",
        ", ".join(f"{d.get('file')} ({str(d.get('hash'))[:12]})" for d in man.get("data") or [])
        or "-",
    )
    for k, v in {**(man.get("metrics") or {}), **info["metrics"]}.items():
        t.add_row(f"  {k}", str(v))
    t.add_row("files", str(len(info["files"])))
    out.print(t)


def versions_diff(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="vNNN")],
    b: Annotated[str, typer.Argument(help="vNNN")],
    as_json: JsonOption = False,
) -> None:
    """What changed from A to B: metrics, data, files."""
    from mentor.daemon import versions
    from mentor.store import connect

    ws = state(ctx).workspace()
    with closing(connect(ws.db)) as conn:
        d = versions.diff(ws, conn, a, b)
    if as_json:
        print_json(d)
        return
    out.print(f"{d['a']} -> {d['b']}  steps {d['steps']['a']} -> {d['steps']['b']}")
    t = Table("metric", "a", "b", "delta")
    for k, m in d["metrics"].items():
        t.add_row(k, str(m["a"]), str(m["b"]), f"{m['delta']:+.4g}" if "delta" in m else "")
    out.print(t)
    out.print(
        f"data only in b: {[x.get('file') for x in d['data_only_b']]}; files changed: {len(d['files_changed'])}"
    )


def versions_restore(
    ctx: typer.Context, version: Annotated[str, typer.Argument(help="vNNN")]
) -> None:
    """Make a version live (a verified backup of the live lineage is taken first)."""
    from mentor.daemon import client, versions
    from mentor.store import connect

    ws = state(ctx).workspace()
    client.refuse_if_busy(ws)
    with closing(connect(ws.db)) as conn:
        r = versions.restore(ws, conn, version)
    out.print(f"{r['version']} restored; previous state backed up as {r['backup']}")


def versions_delete(
    ctx: typer.Context, version: Annotated[str, typer.Argument(help="vNNN")], yes: YesOption = False
) -> None:
    """Delete a version (a verified backup of it is kept)."""
    from mentor.daemon import versions
    from mentor.store import connect
    from mentor.store import versions as version_rows

    ws = state(ctx).workspace()
    with closing(connect(ws.db)) as conn:
        v = version_rows.resolve(conn, version)
        if not yes:
            out.print(f"would delete {v.name} (after a verified backup); pass --yes to do it")
            return
        r = versions.delete(ws, conn, version)
    out.print(f"{r['version']} deleted; backup {r['backup']}")


def consolidate(
    ctx: typer.Context, overrides: SetOption = None, as_json: JsonOption = False
) -> None:
    """Merge the adapter into a new base version; training continues on it with a fresh adapter."""
    from mentor.daemon import client
    from mentor.daemon.consolidate import consolidate as run
    from mentor.store import connect, kv
    from mentor.store.kv import Key

    ws = state(ctx).workspace()
    with closing(connect(ws.db)) as conn:
        if client.running(ws):
            kv.put(conn, Key.CONSOLIDATE_REQUEST, str(time.time()))
            out.print("the daemon runs: consolidation requested; it runs when the daemon is idle")
            return
        r = run(ws, state(ctx).config(overrides), conn, reason="manual")
    if as_json:
        print_json(r)
    else:
        out.print(
            f"consolidated into {r['version']}; base is now {r['base']} (backup {r['backup']})"
        )
