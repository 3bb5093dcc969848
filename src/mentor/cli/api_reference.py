"""``mentor api-reference``: docs/api-reference.md from the app's OpenAPI schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mentor.cli.common import out


def register(app: typer.Typer) -> None:
    app.command("api-reference")(api_reference)


def api_reference(
    dest: Annotated[
        Path | None, typer.Option("--out", help="Write here (default: print to stdout).")
    ] = None,
) -> None:
    """The REST API's reference (routes, parameters, bodies, responses, schemas) as Markdown."""
    from mentor.paths import atomic_write_text
    from mentor.serve.reference import markdown

    text = markdown()
    if dest is None:
        print(text, end="")
        return
    atomic_write_text(dest, text)
    out.print(f"wrote {dest}")
