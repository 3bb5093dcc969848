"""Commands about the workspace itself: init, config show|validate, env."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mentor import config as config_mod
from mentor.cli.common import JsonOption, SetOption, out, print_json, state
from mentor.errors import ConfigError, MentorError


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("env")(env)
    config_app = typer.Typer(
        help="Show, check or patch the workspace config (mentor.yaml).", no_args_is_help=True
    )
    config_app.command("show")(config_show)
    config_app.command("validate")(config_validate)
    config_app.command("reference")(config_reference)
    config_app.command("apply")(config_apply)
    app.add_typer(config_app, name="config")


def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the workspace.")] = Path("."),
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="'tiny' builds the tiny test model here; else a local HF model directory.",
        ),
    ] = "tiny",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the tiny model.")] = 0,
) -> None:
    """Create a workspace: folders, a commented mentor.yaml and an empty state.db."""
    from mentor.workspace import init_workspace

    ws = init_workspace(directory, model=model, seed=seed)
    out.print(f"workspace ready: {ws.home}")
    out.print(
        f"next: drop .jsonl files into {ws.inbox} or run `mentor --home {ws.home} train FILE`"
    )


def config_show(
    ctx: typer.Context, overrides: SetOption = None, as_json: JsonOption = False
) -> None:
    """Print the resolved config (file + --set overrides + defaults)."""
    cfg = state(ctx).config(overrides)
    if as_json:
        print_json(config_mod.to_dict(cfg))
    else:
        out.print(config_mod.dump_yaml(cfg), end="", highlight=False)


def config_validate(
    ctx: typer.Context, overrides: SetOption = None, as_json: JsonOption = False
) -> None:
    """Check mentor.yaml and report every error at once (exit 2 when any)."""
    ws = state(ctx).workspace()
    errors = config_mod.validate_file(ws.config_file, overrides)
    if as_json:
        print_json({"valid": not errors, "errors": errors})
    else:
        for line in errors:
            out.print(line, highlight=False, soft_wrap=True)
        if not errors:
            out.print(f"{ws.config_file}: valid")
    if errors:
        raise typer.Exit(ConfigError.exit_code)


def config_apply(
    ctx: typer.Context,
    patch: Annotated[
        Path, typer.Argument(help="YAML patch: the keys to change (e.g. from mentor tune).")
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Write without asking.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Apply a config patch to mentor.yaml: every error at once, the diff of the resolved keys
    first, then (with --yes, or a yes at the prompt) an atomic write that keeps the comments.
    Without --yes and without a terminal to ask on, it is a dry run."""
    import sys

    from mentor import config_patch

    ws = state(ctx).workspace()
    plan = config_patch.plan_patch(ws.config_file, config_patch.read_patch(patch))
    if not plan.ok:
        if as_json:
            print_json({**plan.to_dict(), "applied": False})
        else:
            for line in plan.errors:
                out.print(line, highlight=False, soft_wrap=True)
        raise typer.Exit(ConfigError.exit_code)
    if not plan.changes:
        if as_json:
            print_json({**plan.to_dict(), "applied": False})
        else:
            out.print(f"{ws.config_file}: already has these settings; nothing to change")
        return
    if not as_json:
        for line in plan.diff.splitlines():
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            out.print(line, style=style, highlight=False, markup=False, soft_wrap=True)
        if not plan.comments_kept:
            out.print(
                "note: the file's layout cannot be edited in place; it will be rewritten "
                "with the documented comments (its own comments are lost)"
            )
    apply = yes
    if not yes and sys.stdin.isatty() and not as_json:
        apply = typer.confirm(f"apply {len(plan.changes)} change(s) to {ws.config_file}?")
    if apply:
        config_patch.write_plan(plan)
    if as_json:
        print_json({**plan.to_dict(), "applied": apply})
    elif apply:
        out.print(f"{ws.config_file}: {len(plan.changes)} key(s) changed")
    else:
        out.print("dry run: nothing written (pass --yes to apply)")


def config_reference(
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the Markdown here instead of stdout.")
    ] = None,
) -> None:
    """Every config key with its type, default and description, as Markdown
    (docs/configuration.md is generated with `--out docs/configuration.md`)."""
    from mentor.config_reference import markdown
    from mentor.paths import atomic_write_text

    text = markdown()
    if out_file is None:
        typer.echo(text, nl=False)
    else:
        atomic_write_text(out_file, text)
        out.print(f"wrote {out_file}")


def env(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Python, torch, transformers, peft, accelerate; CUDA and GPUs; the workspace in use."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    info: dict[str, object] = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("mentor", "torch", "transformers", "peft", "accelerate", "datasets", "tokenizers"):
        try:
            info[pkg] = version(pkg)
        except PackageNotFoundError:
            info[pkg] = None
    info["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    info["cpu_threads"] = torch.get_num_threads()
    try:
        info["workspace"] = str(state(ctx).workspace().home)
    except MentorError as err:
        info["workspace"] = None
        info["workspace_note"] = str(err)
    if as_json:
        print_json(info)
        return
    table = Table(show_header=False, box=None)
    for k, v in info.items():
        table.add_row(k, "-" if v in (None, []) else str(v))
    out.print(table)
