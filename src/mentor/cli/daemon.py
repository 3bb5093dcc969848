"""``mentor daemon`` and ``mentor up``: the daemon in the foreground, alone or with the API."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from mentor.cli.common import SetOption, ensure_port_free, out, state


def register(app: typer.Typer) -> None:
    app.command("daemon")(daemon)
    app.command("up")(up)


def daemon(ctx: typer.Context, overrides: SetOption = None) -> None:
    """Run the daemon in the foreground (Ctrl-C or SIGTERM: checkpoint, then exit)."""
    from mentor.daemon.service import Daemon

    logging.getLogger("mentor").setLevel(logging.INFO)
    ws = state(ctx).workspace()
    d = Daemon(ws, overrides=overrides or [])
    d.install_signals()
    d.start()
    out.print(f"mentor daemon running on {ws.home} (pid {os.getpid()}); `mentor stop` to stop")
    d.run()
    out.print("daemon stopped")


def serve_command(
    home: Path, host: str | None, port: int | None, overrides: list[str]
) -> list[str]:
    """The ``mentor serve`` child of ``mentor up`` (its --host/--port passed on)."""
    cmd = [sys.executable, "-m", "mentor", "--home", str(home), "serve"]
    if host is not None:
        cmd += ["--host", host]
    if port is not None:
        cmd += ["--port", str(port)]
    for o in overrides:
        cmd += ["--set", o]
    return cmd


def up(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Bind address of the API (default serve.host).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port of the API (default serve.port)."),
    ] = None,
    overrides: SetOption = None,
) -> None:
    """The daemon, the REST API and the dashboard under one supervisor (one process tree).

    A port another process listens on is refused before the daemon starts."""
    from mentor.daemon.service import Daemon
    from mentor.daemon.supervisor import Supervised

    logging.getLogger("mentor").setLevel(logging.INFO)
    ws = state(ctx).workspace()
    cfg = state(ctx).config(overrides)
    ensure_port_free(host or cfg.serve.host, port or cfg.serve.port)
    d = Daemon(ws, overrides=overrides or [])
    d.install_signals()
    d.start()
    cmd = serve_command(ws.home, host, port, overrides or [])
    serve = Supervised(cmd, ws.logs / "serve.log")  # restarted if it dies
    serve.start()
    pid = serve.proc.pid if serve.proc else "?"
    where = f"http://{host or cfg.serve.host}:{port or cfg.serve.port}"
    out.print(f"serving API and dashboard on {where} (pid {pid}); log {ws.logs / 'serve.log'}")
    try:
        d.run(extra=serve.check)
    finally:
        serve.stop()
    out.print("stopped")
