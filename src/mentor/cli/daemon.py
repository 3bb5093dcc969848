"""``mentor daemon`` and ``mentor up``: the daemon in the foreground, alone or with the API."""

from __future__ import annotations

import logging
import os
import sys

import typer

from mentor.cli.common import SetOption, out, state


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


def up(ctx: typer.Context, overrides: SetOption = None) -> None:
    """The daemon, the REST API and the dashboard under one supervisor (one process tree)."""
    from mentor.daemon.service import Daemon
    from mentor.daemon.supervisor import Supervised

    logging.getLogger("mentor").setLevel(logging.INFO)
    ws = state(ctx).workspace()
    d = Daemon(ws, overrides=overrides or [])
    d.install_signals()
    d.start()
    cmd = [sys.executable, "-m", "mentor", "--home", str(ws.home), "serve"]
    for o in overrides or []:
        cmd += ["--set", o]
    serve = Supervised(cmd, ws.logs / "serve.log")  # restarted if it dies
    serve.start()
    pid = serve.proc.pid if serve.proc else "?"
    out.print(f"serving API and dashboard (pid {pid}); log {ws.logs / 'serve.log'}")
    try:
        d.run(extra=serve.check)
    finally:
        serve.stop()
    out.print("stopped")
