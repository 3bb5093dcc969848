"""What every command shares: the workspace, the config with --set overrides, output helpers."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mentor import config as config_mod
from mentor.paths import Workspace, resolve_home

console = Console(stderr=True)
out = Console()


def progress_bar(*, disable: bool = False, transient: bool = False) -> Progress:
    """mentor's progress bar: what, bar, done/total, a free ``info`` field, elapsed, ETA."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=disable,
        transient=transient,
    )


def task_progress(bar: Progress) -> Callable[[str, int, int], None]:
    """An evaluation's ``progress(task, done, total)`` drawn as one bar per task."""
    ids: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:
        if name not in ids:
            ids[name] = bar.add_task(name, total=total, info="")
        bar.update(ids[name], completed=done, total=total)

    return progress


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a config value for this command, e.g. --set training.lora_r=32 (repeatable).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
YesOption = Annotated[
    bool, typer.Option("--yes", help="Do it (without --yes: a dry run / refusal).")
]


def fmt_ts(ts: float | None) -> str:
    """A unix time as local ``YYYY-mm-dd HH:MM:SS`` (``-`` when unset)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


@dataclass
class AppState:
    home: str | None = None
    debug: bool = False
    _ws: Workspace | None = field(default=None, repr=False)

    def workspace(self) -> Workspace:
        if self._ws is None:
            self._ws = resolve_home(self.home)
        return self._ws

    def config(self, overrides: list[str] | None = None) -> config_mod.Config:
        ws = self.workspace()
        return config_mod.load(ws.config_file, overrides)


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppState):  # invoked without the root callback (tests of a sub-app)
        obj = AppState()
        ctx.find_root().obj = obj
    return obj


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    if hasattr(o, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def ensure_port_free(host: str, port: int) -> None:
    """Refuse a port another process listens on, before anything says it is serving.

    Binds a probe socket the way the server will (``SO_REUSEADDR``, so a port in TIME_WAIT
    still counts as free) and closes it at once.
    """
    import socket

    from mentor.errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ConfigError(
                f"{host}:{port} is not free ({err.strerror}); another process listens there",
                hint="stop it, or pick another port with --port or serve.port in mentor.yaml",
            ) from None
