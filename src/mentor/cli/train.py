"""``mentor train FILE...`` and ``mentor validate FILE``: the training core from the command line.

``mentor train`` calls the same :func:`mentor.train.train_file` as the daemon's training child,
synchronously, one file after the other. ``mentor pause|stop|skip`` (or writing
``status/control.json``) reaches it through the control file; Ctrl-C / SIGTERM checkpoint. With ``--gpus N`` (or
``training.gpus``) the command starts itself again as N ranks through torchrun
(:mod:`mentor.train.distributed`); rank 0 prints.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mentor.cli.common import JsonOption, SetOption, console, out, print_json, progress_bar, state
from mentor.errors import JobError

OverlengthOption = Annotated[
    str | None,
    typer.Option(
        "--on-overlength",
        help="A row longer than training.max_length: refuse the file (default) or drop the row to quarantine.",
    ),
]


GpusOption = Annotated[
    int | None,
    typer.Option(
        "--gpus",
        min=1,
        help="Train with N processes (DDP through torchrun; on a CPU N gloo processes). "
        "Default: training.gpus.",
    ),
]
BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="Process-group backend with --gpus > 1: auto (NCCL on CUDA, else gloo), nccl, gloo.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("validate")(validate)


def _fmt(v: Any, spec: str = ".4g") -> str:
    return "-" if v is None else format(v, spec) if isinstance(v, (int, float)) else str(v)


def validate(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSONL file to check (the whole file).")],
    json_out: JsonOption = False,
    on_overlength: OverlengthOption = None,
    set_: SetOption = None,
) -> None:
    """Check a training file the way training will read it: schema, exact token lengths,
    duplicates, benchmark contamination, estimated tokens and time.

    It only checks: nothing is written (no quarantine, no database rows; the daemon quarantines
    when it takes the file). The time estimate uses the last training's measured tokens/s, or,
    before anything was trained, a micro-benchmark of the model at hand (data.estimate_steps
    forward+backward steps at the file's median length, measured once and cached in
    data/cache/throughput.json)."""
    from mentor.daemon.throughput import micro_benchmark
    from mentor.data.validate import measured_tokens_per_s, set_rate, validate_file
    from mentor.errors import DataError
    from mentor.models.loader import load_tokenizer

    app = state(ctx)
    ws = app.workspace()
    cfg = app.config(set_)
    tok = load_tokenizer(cfg.model_path(ws.home))
    report = validate_file(
        None, cfg, file, tokenizer=tok, on_overlength=on_overlength, write_quarantine=False
    )
    if report.ok and report.rows_trainable:
        measured = measured_tokens_per_s(ws)
        if measured:
            set_rate(report, cfg, measured, "measured (last training)")
        else:
            rate, source = micro_benchmark(ws, cfg, int(report.lengths["total"]["p50"]))
            set_rate(report, cfg, rate, source)
    if json_out:
        print_json(report.to_dict())
    else:
        t = Table(title=f"{file.name}: {'ok' if report.ok else 'REFUSED'}")
        t.add_column("check")
        t.add_column("value", justify="right")
        t.add_row("rows (lines)", str(report.rows_total))
        t.add_row("schema errors", str(report.error_count))
        t.add_row("rows trainable", str(report.rows_trainable))
        t.add_row(f"over max_length {report.max_length}", str(report.overlength_count))
        for part in ("prompt", "answer", "total"):
            s = report.lengths.get(part, {})
            t.add_row(
                f"{part} tokens p50/p95/p99/max",
                "/".join(_fmt(s.get(k), ".0f") for k in ("p50", "p95", "p99", "max")),
            )
        t.add_row("exact duplicates", str(report.duplicates))
        t.add_row("benchmark contamination", _fmt(report.contamination))
        t.add_row("tokens (trainable rows)", f"{report.tokens:,}")
        t.add_row(
            "est. training time",
            "-"
            if report.est_seconds is None
            else f"{report.est_seconds:.3g} s ({report.tokens_per_s:,.0f} tokens/s, "
            f"{report.tokens_per_s_source})",
        )
        t.add_row("validation time", f"{report.seconds:.1f} s")
        out.print(t)
        if report.histogram:
            peak = max(b["count"] for b in report.histogram) or 1
            for b in report.histogram:
                bar = "#" * round(30 * b["count"] / peak)
                out.print(f"  {b['lo']:>6}-{b['hi']:<6} {b['count']:>7} {bar}")
        for e in report.errors:
            console.print(f"  {e}", highlight=False, markup=False)
        if report.overlength_count and report.on_overlength == "drop":
            out.print(
                f"{report.overlength_count} over-long row(s) would be dropped to the quarantine "
                "when the file is trained"
            )
    if not report.ok:
        raise DataError("; ".join(report.problems))


def train(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="JSONL files, trained in this order.")],
    force: Annotated[
        bool, typer.Option("--force", help="Train a file again even if already trained.")
    ] = False,
    on_overlength: OverlengthOption = None,
    early_stopping: Annotated[
        int | None,
        typer.Option(
            "--early-stopping",
            metavar="PATIENCE",
            help="Stop a file after PATIENCE evaluations without improvement and keep its best "
            "checkpoint (training.early_stopping; 0 = off).",
        ),
    ] = None,
    es_metric: Annotated[
        str | None,
        typer.Option(
            "--early-stopping-metric",
            help="val_loss or preview.<metric> (training.early_stopping.metric).",
        ),
    ] = None,
    min_delta: Annotated[
        float | None,
        typer.Option("--min-delta", help="Smallest improvement (training.early_stopping)."),
    ] = None,
    json_out: JsonOption = False,
    set_: SetOption = None,
    gpus: GpusOption = None,
    backend: BackendOption = None,
) -> None:
    """Train the workspace's lineage on FILE(s), in order, resuming each at its saved row.

    The CPU cores are divided among the mentor processes computing at once (another training,
    the daemon's children): see mentor.monitor.cpu_share."""
    from mentor.train import distributed

    app = state(ctx)
    ws = app.workspace()
    es = _early_stopping_sets(early_stopping, es_metric, min_delta)
    sets = [*es, *(set_ or []), *([f"training.ddp_backend={backend}"] if backend else [])]
    cfg = app.config(sets)
    ranks = distributed.ranks()
    nproc = gpus or cfg.training.gpus
    if nproc > 1 and not ranks.multi:
        args = ["--home", str(ws.home), *(["--debug"] if app.debug else []), "train"]
        args += [str(f) for f in files] + (["--force"] if force else [])
        args += ["--on-overlength", on_overlength] if on_overlength else []
        args += ["--json"] if json_out else []
        for s in sets:
            args += ["--set", s]
        cmd = distributed.launch_command(
            "mentor", args, nproc=nproc, accelerate_config=cfg.training.accelerate_config
        )
        raise typer.Exit(subprocess.run(cmd, check=False).returncode)
    quiet = not ranks.main  # every rank trains; rank 0 reports
    outcomes = _train_files(ws, cfg, files, force, on_overlength, quiet=json_out or quiet)
    if quiet:
        pass
    elif json_out:
        print_json({"outcomes": [o.__dict__ for o in outcomes]})
    else:
        _print_outcomes(files, outcomes)
    last = outcomes[-1]
    if last.status == "failed":
        raise JobError(last.message)


def _early_stopping_sets(
    patience: int | None, metric: str | None, min_delta: float | None
) -> list[str]:
    """The ``--set`` pairs of the early-stopping flags."""
    sets = []
    if patience is not None:
        sets.append(f"training.early_stopping.enabled={str(patience > 0).lower()}")
        if patience > 0:
            sets.append(f"training.early_stopping.patience={patience}")
    if metric is not None:
        sets.append(f"training.early_stopping.metric={metric}")
    if min_delta is not None:
        sets.append(f"training.early_stopping.min_delta={min_delta}")
    return sets


def _train_files(
    ws: Any, cfg: Any, files: list[Path], force: bool, on_overlength: str | None, *, quiet: bool
) -> list[Any]:
    """Train the files in order with a progress bar each; stop at the first not completed."""
    from mentor.monitor.cpu_share import CpuShare
    from mentor.train import train_file  # loads transformers: not in a launching parent

    outcomes = []
    for f in files:
        with progress_bar(disable=quiet) as bar, CpuShare() as share:
            task = bar.add_task(f.name, total=None, info="validating")

            def on_progress(p: dict[str, Any], task: Any = task, bar: Any = bar) -> None:
                info = (
                    f"loss {_fmt(p.get('loss'))}  lr {_fmt(p.get('lr'), '.2e')}  "
                    f"{_fmt(p.get('trained_tokens_per_s'), '.0f')} trained tok/s"
                )
                bar.update(task, total=p["file_steps"], completed=p["file_step"], info=info)
                share.rebalance()

            outcome = train_file(
                ws, cfg, f, progress=on_progress, force=force, on_overlength=on_overlength
            )
        outcomes.append(outcome)
        if outcome.status != "completed":
            break
    return outcomes


def _print_outcomes(files: list[Path], outcomes: list[Any]) -> None:
    t = Table(title="training")
    for col in ("file", "status", "rows", "next row", "step", "loss", "val loss", "tok/s", "run"):
        t.add_column(col)
    for f, o in zip(files, outcomes, strict=False):
        m = o.metrics
        t.add_row(
            f.name,
            o.status,
            f"{o.rows_trained}/{o.rows_total}",
            str(o.next_row),
            str(o.global_step),
            _fmt(m.get("loss")),
            _fmt(m.get("val_loss")),
            _fmt(m.get("tokens_per_s"), ".0f"),
            o.run_id or "-",
        )
    out.print(t)
    for o in outcomes:
        out.print(o.message)
