"""The ``mentor`` command: a table of command groups, one thin module each.

The CLI is a leaf: it calls into the core and prints; the core never imports it.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Annotated

import typer
from rich.markup import escape

from mentor import __version__
from mentor.cli import analysis as analysis_cmd
from mentor.cli import api_reference as api_reference_cmd
from mentor.cli import augment as augment_cmd
from mentor.cli import backup as backup_cmd
from mentor.cli import control as control_cmd
from mentor.cli import daemon as daemon_cmd
from mentor.cli import dashboard as dashboard_cmd
from mentor.cli import demo as demo_cmd
from mentor.cli import eval as eval_cmd
from mentor.cli import export as export_cmd
from mentor.cli import forgetting as forgetting_cmd
from mentor.cli import model as model_cmd
from mentor.cli import queue as queue_cmd
from mentor.cli import serve as serve_cmd
from mentor.cli import syllo as syllo_cmd
from mentor.cli import train as train_cmd
from mentor.cli import tune as tune_cmd
from mentor.cli import versions as versions_cmd
from mentor.cli import workspace as workspace_cmd
from mentor.cli.common import AppState, console
from mentor.errors import MentorError

app = typer.Typer(
    name="mentor",
    help="Continuously fine-tune a small language model and prove, with numbers, that it got better.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mentor {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        str | None,
        typer.Option(
            "--home",
            envvar="MENTOR_HOME",
            help="Workspace directory (default: the current directory when it holds mentor.yaml).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = AppState(home=home, debug=debug)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# The command table, in the order a user meets it: each module registers its commands.
workspace_cmd.register(app)
train_cmd.register(app)
eval_cmd.register(app)
forgetting_cmd.register(app)
serve_cmd.register(app)
dashboard_cmd.register(app)
daemon_cmd.register(app)
control_cmd.register(app)
queue_cmd.register(app)
versions_cmd.register(app)
export_cmd.register(app)
backup_cmd.register(app)
syllo_cmd.register(app)
augment_cmd.register(app)
model_cmd.register(app)
analysis_cmd.register(app)
tune_cmd.register(app)
demo_cmd.register(app)
api_reference_cmd.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one line per user error, exit codes by error class.

    Usage errors, --help and typer.Exit are handled by the CLI framework itself (standalone
    mode); a MentorError becomes ``error: <message>`` and its class's exit code.
    """
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("MENTOR_DEBUG") == "1"
    # mentor draws its own progress bars; the libraries' per-shard bars would interleave with them
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # peft still asks transformers 5 for is_gradient_checkpointing: a library's note, not the user's
    warnings.filterwarnings(
        "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
    )
    try:
        app(args=args, prog_name="mentor")
    except MentorError as err:
        if debug:
            console.print_exception()
        console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
