"""``mentor augment FILE --out FILE``: SYLLO augmentations and system-prompt variation.

Options left out take ``data.augment`` of the workspace config when there is a workspace, else
the config defaults; no workspace is needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mentor.cli.common import JsonOption, SetOption, out, print_json, progress_bar, state
from mentor.config import AUGMENT_OPS, AugmentConfig
from mentor.errors import WorkspaceError
from mentor.paths import HOME_ENV


def register(app: typer.Typer) -> None:
    app.command("augment")(augment)


def _config(ctx: typer.Context, overrides: list[str] | None) -> tuple[AugmentConfig, Path | None]:
    """The workspace's ``data.augment`` (with --set), or the defaults outside a workspace."""
    from mentor import config as config_mod

    st = state(ctx)
    try:
        ws = st.workspace()
    except WorkspaceError:
        if st.home or os.environ.get(HOME_ENV):  # a workspace was named: it must be one
            raise
        return config_mod.build({}, overrides).data.augment, None
    return st.config(overrides).data.augment, ws.home


def augment(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSONL rows to augment (SYLLO or any chat rows).")],
    out_file: Annotated[
        Path, typer.Option("--out", help="Output JSONL file (written atomically).")
    ],
    factor: Annotated[
        int | None, typer.Option("--factor", min=1, help="Augmented copies per source row.")
    ] = None,
    ops: Annotated[
        str | None,
        typer.Option(
            "--ops",
            help="Comma-separated recipes, one per copy in turn; '+' composes ops. Ops: "
            + ", ".join(AUGMENT_OPS)
            + ".",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of every choice.")] = None,
    system_prompts: Annotated[
        Path | None,
        typer.Option("--system-prompts", help="Text file of system prompts, one per line."),
    ] = None,
    originals: Annotated[
        bool | None,
        typer.Option("--originals/--no-originals", help="Write the source rows too."),
    ] = None,
    json_out: JsonOption = False,
    set_: SetOption = None,
) -> None:
    """Write each row and its augmented copies; copies that fail `mentor syllo check`, repeat a
    benchmark puzzle or duplicate a row are dropped and counted."""
    from mentor.data.augment import augment_file, parse_recipes

    cfg, home = _config(ctx, set_)
    changes: dict[str, object] = {}
    if factor is not None:
        changes["factor"] = factor
    if ops is not None:
        changes["ops"] = ["+".join(r) for r in parse_recipes(ops)]
    if seed is not None:
        changes["seed"] = seed
    if system_prompts is not None:
        changes["system_prompts_file"] = str(system_prompts.resolve())
    if originals is not None:
        changes["keep_original"] = originals
    cfg = AugmentConfig.model_validate({**cfg.model_dump(), **changes})
    with progress_bar(disable=json_out) as bar:
        task = bar.add_task("augmenting", total=None, info="")

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = augment_file(file, out_file, cfg, home=home, progress=progress)
    if json_out:
        print_json(report.to_dict())
        return
    table = Table(title=f"{file.name} -> {out_file.name} (seed {report.seed})")
    for col in ("recipe", "copies tried", "written", "rejected", "why"):
        table.add_column(col, justify="left" if col in ("recipe", "why") else "right")
    for name, r in report.recipes.items():
        why = "; ".join(f"{n} {reason}" for reason, n in r.rejected.most_common())
        table.add_row(name, str(r.tried), str(r.written), str(sum(r.rejected.values())), why)
    out.print(table)
    out.print(
        f"{report.rows_in} rows in -> {report.rows_out} rows out "
        f"({report.originals} originals, {report.augmented} copies, {report.rejected} rejected) "
        f"in {report.seconds:.1f} s",
        highlight=False,
    )
    if report.source_benchmark_rows:
        out.print(
            f"warning: {report.source_benchmark_rows} source row(s) are benchmark puzzles; "
            "none was copied (check the source with `mentor validate`)",
            highlight=False,
        )
