"""``mentor daemon`` and ``mentor up``: the daemon in the foreground, alone or with the API."""

from __future__ import annotations

import logging
import os
import socket
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


def _port_free(ws: object, overrides: list[str]) -> None:
    """Refuse ``mentor up`` on a port something else holds, before anything starts (else the
    server child would fail and be restarted forever beside a running daemon: lesson 17)."""
    from mentor import config as config_mod
    from mentor.errors import ConfigError

    cfg = config_mod.load(ws.config_file, overrides)  # type: ignore[attr-defined]
    host, port = cfg.serve.host, cfg.serve.port
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as err:
            raise ConfigError(
                f"serve.port {port} on {host} is in use ({err.strerror}): another `mentor up`, "
                "`mentor serve` or program holds it",
                hint=f"stop it, or pick another port: mentor up --set serve.port={port + 1}",
            ) from None


def up(ctx: typer.Context, overrides: SetOption = None) -> None:
    """The daemon, the REST API and the dashboard under one supervisor (one process tree)."""
    from mentor.daemon.service import Daemon
    from mentor.daemon.supervisor import Supervised

    logging.getLogger("mentor").setLevel(logging.INFO)
    ws = state(ctx).workspace()
    _port_free(ws, overrides or [])
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
