"""``mentor export vNNN --out DIR [--merged]``: a version as an adapter or a merged HF model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mentor.cli.common import JsonOption, SetOption, out, print_json, progress_bar, state


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="vNNN, a version directory name, or current.")],
    out_dir: Annotated[Path, typer.Option("--out", help="New (or empty) directory to write.")],
    merged: Annotated[
        bool,
        typer.Option(
            "--merged",
            help="Merge the adapter into the base and write a plain Hugging Face model "
            "(transformers, vLLM, llama.cpp's converter load it).",
        ),
    ] = False,
    json_out: JsonOption = False,
    set_: SetOption = None,
) -> None:
    """Write a version for use outside mentor: the adapter + tokenizer + README (base model and
    metrics), or with --merged the merged model in safetensors."""
    from mentor.models.export import export_version

    app = state(ctx)
    ws, cfg = app.workspace(), app.config(set_)
    with progress_bar(disable=json_out, transient=True) as bar:
        bar.add_task(f"exporting {version}", total=None, info="merging" if merged else "copying")
        res = export_version(ws, cfg, version, out_dir, merged=merged)
    if json_out:
        print_json(res.to_dict())
        return
    kind = "merged model" if res.merged else "adapter"
    out.print(f"{res.version}: {kind} written to {res.out} ({', '.join(res.files)})")
