"""What every command shares: the workspace, the config with --set overrides, output helpers."""

from __future__ import annotations

import json
import sys
import time
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
