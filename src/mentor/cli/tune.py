"""``mentor tune``: hyperparameter search with a progress bar per trial, then a table of trials."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from mentor.cli.common import JsonOption, SetOption, out, print_json, progress_bar, state
from mentor.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command("tune")(tune)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _short(params: dict[str, Any]) -> str:
    return " ".join(f"{k.rsplit('.', 1)[-1]}={_fmt(v)}" for k, v in params.items())


class _Bars:
    """SearchEvents for the terminal: one rich progress line per trial."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: dict[int, TaskID] = {}

    def note(self, text: str) -> None:
        self.bar.console.print(text, highlight=False)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self.tasks[number] = self.bar.add_task(f"trial {number}", total=None, info=_short(params))

    def trial_progress(self, number: int, p: dict[str, Any]) -> None:
        info = f"loss {_fmt(p.get('loss'))}  val {_fmt(p.get('val_loss'))}"
        self.bar.update(
            self.tasks[number], total=p["file_steps"], completed=p["file_step"], info=info
        )

    def trial_finished(self, row: Any) -> None:
        task = self.tasks.get(row.number)
        if task is None:
            return
        value = _fmt(row.value if row.value is not None else row.last_value)
        self.bar.update(task, description=f"trial {row.number} {row.state}", info=f"val {value}")
        self.bar.stop_task(task)


class _Quiet:
    def note(self, text: str) -> None: ...
    def trial_started(self, number: int, params: dict[str, Any]) -> None: ...
    def trial_progress(self, number: int, p: dict[str, Any]) -> None: ...
    def trial_finished(self, row: Any) -> None: ...


def tune(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="JSONL file the trials train on and are scored on."),
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option("--trials", min=1, help="Finished trials to reach (default tune.trials)."),
    ] = None,
    space: Annotated[
        Path | None,
        typer.Option("--space", help="YAML search space (see --show-space for the format)."),
    ] = None,
    budget_minutes: Annotated[
        float | None,
        typer.Option("--budget-minutes", min=0.0, help="Start no new trial after M minutes."),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option("--study", help="Study name (default: the file's stem and content hash)."),
    ] = None,
    pruner: Annotated[
        str | None,
        typer.Option("--pruner", help="median | hyperband | none (default tune.pruner)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the TPE sampler (default tune.seed).")
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Every trial starts a new lineage from the base model, even when the workspace "
            "has one (to search the learning rate and LoRA shape a running lineage keeps).",
        ),
    ] = False,
    show_space: Annotated[
        bool, typer.Option("--show-space", help="Print the space the search would use and exit.")
    ] = False,
    set_: SetOption = None,
    json_out: JsonOption = False,
) -> None:
    """Search hyperparameters with Optuna on copies of the lineage; write the best as a patch."""
    from mentor.tune import SearchOptions, load_space, run_search
    from mentor.tune.trial import has_lineage

    app = state(ctx)
    ws = app.workspace()
    cfg = app.config(set_)
    if show_space:
        sp = load_space(space, cfg, continuing=has_lineage(ws) and not fresh)
        if json_out:
            print_json({"source": sp.source, "space": sp.to_dict()})
        else:
            out.print(f"# {sp.source}", highlight=False)
            out.print(sp.to_yaml(), end="", highlight=False)
        return
    if data is None:
        raise ConfigError("mentor tune needs --data FILE", hint="the JSONL file to search on")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # mentor reports the trials itself
    opts = SearchOptions(
        data=data.resolve(),
        trials=trials,
        space_file=space,
        budget_minutes=budget_minutes,
        study=study,
        pruner=pruner,
        seed=seed,
        fresh=fresh,
    )
    if json_out:
        result = run_search(ws, cfg, opts, _Quiet())
        print_json(result.to_dict())
    else:
        with progress_bar() as bar:
            result = run_search(ws, cfg, opts, _Bars(bar))
        _print_result(ws.home, result)
    if result.stopped:
        raise typer.Exit(130)


def _print_result(home: Path, result: Any) -> None:
    for note in result.notes:
        out.print(f"note: {note}", highlight=False)
    t = Table(title=f"study {result.study}: {result.done}/{result.trials_wanted} trials finished")
    for col, justify in (
        ("#", "right"),
        ("state", "left"),
        ("val_loss", "right"),
        ("steps", "right"),
        ("seconds", "right"),
        ("params", "left"),
        ("note", "left"),
    ):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in result.trials:
        value = r.value if r.value is not None else r.last_value
        t.add_row(
            str(r.number),
            r.state,
            _fmt(value),
            _fmt(r.steps),
            _fmt(r.seconds),
            _short(r.params),
            r.note,
        )
    out.print(t)
    if result.stopped:
        out.print(f"stopped ({result.stopped}); run the same command again to resume")
    if result.best is None:
        out.print("no trial completed yet")
    elif result.patch:
        out.print(f"best: trial {result.best.number}, val_loss {result.best.value:.6g}")
        out.print(f"patch: {result.patch_file}", highlight=False)
        out.print(f"apply it with: mentor --home {home} config apply {result.patch_file}")
    else:
        out.print(f"best: trial {result.best.number} ran the current settings: nothing to apply")
    out.print(f"open the study: optuna-dashboard {result.storage}", highlight=False)
