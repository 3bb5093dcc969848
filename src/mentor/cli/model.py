"""Commands about models: model tiny."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mentor.cli.common import out


def register(app: typer.Typer) -> None:
    model_app = typer.Typer(help="Build and inspect models.", no_args_is_help=True)
    model_app.command("tiny")(tiny)
    app.add_typer(model_app, name="model")


def tiny(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the model into.")],
    size: Annotated[str, typer.Option("--size", help="xs (~1M params), s or m.")] = "xs",
    seed: Annotated[int, typer.Option("--seed", help="Seed of weights and tokenizer corpus.")] = 0,
) -> None:
    """Build a tiny Qwen3-architecture model and its locally trained tokenizer (same seed, same files)."""
    from mentor.errors import ConfigError
    from mentor.models.tiny import SIZES, build_tiny

    if size not in SIZES:
        raise ConfigError(f"--size {size!r}: expected one of {', '.join(SIZES)}")
    path = build_tiny(out_dir, size=size, seed=seed)  # type: ignore[arg-type]
    out.print(f"tiny model ({size}, seed {seed}) written to {path}")
