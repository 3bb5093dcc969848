"""``mentor dashboard``: the view-only web dashboard of a workspace (uvicorn, 127.0.0.1 by default)."""

from __future__ import annotations

from typing import Annotated

import typer

from mentor.cli.common import SetOption, console, state


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)


def dashboard(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Bind address (default serve.host, 127.0.0.1); other than loopback needs serve.api_keys.",
        ),
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Port.")] = 9001,
    overrides: SetOption = None,
) -> None:
    """Serve the dashboard: overview, live previews, evolution, evals, versions, reports (read-only)."""
    import uvicorn

    from mentor.errors import ConfigError
    from mentor.serve.dashboard import create_dashboard_app
    from mentor.serve.security import needs_key

    st = state(ctx)
    ws = st.workspace()
    cfg = st.config(overrides)
    if host:
        cfg.serve.host = host
    if needs_key(cfg) and not cfg.serve.api_keys:
        raise ConfigError(
            f"--host {cfg.serve.host}: not loopback and serve.api_keys is empty: refusing to serve without a key",
            hint="add the sha256 of a key to serve.api_keys, or bind 127.0.0.1",
        )
    app = create_dashboard_app(ws, cfg)
    shown = f"[{cfg.serve.host}]" if ":" in cfg.serve.host else cfg.serve.host
    console.print(f"dashboard of {ws.home} on http://{shown}:{port}/dashboard/ (Ctrl-C stops)")
    uvicorn.run(app, host=cfg.serve.host, port=port, log_level="warning")
