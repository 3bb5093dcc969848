"""``train_file``: train the workspace's lineage on one file, resumably (DESIGN "Continuous training").

Top to bottom: validate the file; open the lineage (its checkpoint, else a new one) and close the
runs a dead process left open; plan the file from its saved row (held-out split, seeded order,
packs); open the run folder; build the Trainer with mentor's callbacks; train until the file
ends or a pause/stop/skip/SIGTERM; close the run with its outcome. The parts:
:mod:`~mentor.train.lineage`, :mod:`~mentor.train.run_folder`, :mod:`~mentor.train.trainer`,
:mod:`~mentor.train.callbacks`, :mod:`~mentor.train.model`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mentor import control as control_channel
from mentor.config import Config
from mentor.data.packing import pad_id
from mentor.data.validate import ValidationReport, validate_file
from mentor.errors import ConfigError
from mentor.paths import Workspace
from mentor.store import connect
from mentor.train import distributed, lineage
from mentor.train.context import RunContext
from mentor.train.run_folder import TrainOutcome, TrainRun, new_run_id, reconcile
from mentor.train.schedule import lineage_warmup


def train_file(
    ws: Workspace,
    cfg: Config,
    path: Path,
    *,
    job_id: int | None = None,
    control: Callable[[], str | None] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    force: bool = False,
    on_overlength: str | None = None,
    report: ValidationReport | None = None,
    status: Any = None,
    callbacks: Sequence[Any] = (),
) -> TrainOutcome:
    """Train the workspace's lineage on ``path`` from its saved position.

    Raises a :class:`~mentor.errors.MentorError` when nothing may be trained (the file fails
    validation, a config error); returns ``status="failed"`` when training started and had to
    stop (NaN/Inf loss), with the last good checkpoint kept in ``ws.current``. ``control``
    defaults to the workspace's control channel; ``callbacks`` are extra ``TrainerCallback``s.

    Launched as several ranks (:mod:`mentor.train.distributed`), every rank calls this; rank 0
    alone writes, reads the control channel and reports progress.
    """
    from mentor.models.loader import default_device, load_tokenizer
    from mentor.monitor.status import StatusWriter
    from mentor.train.trainer import build_trainer

    ranks = distributed.init(cfg.training.ddp_backend)
    if ranks.multi and cfg.training.early_stopping.enabled:
        # only rank 0 computes the validation loss; the stop would have to be agreed by all ranks
        raise ConfigError(
            "training.early_stopping is not supported with training.gpus > 1 yet",
            hint="set training.early_stopping.enabled=false, or train with one process",
        )
    path, started, device = Path(path), time.time(), default_device()
    tokenizer = load_tokenizer(cfg.model_path(ws.home))
    if report is None:
        report = distributed.main_first(
            ranks.main,
            lambda first: validate_file(
                ws,
                cfg,
                path,
                tokenizer=tokenizer,
                on_overlength=on_overlength,
                write_quarantine=first,
            ),
        )
    report.raise_if_refused()  # never fail open: training takes its rows from a passed report
    conn = distributed.main_first(ranks.main, lambda first: connect(ws.db))
    try:
        state, resume, run_id = distributed.from_main(
            _open(ws, conn, cfg, report.file_hash) if ranks.main else ({}, False, "")
        )
        plan = lineage.plan_file(state, report, cfg, path.name, force)
        if plan.done_before:
            return _done_before(path, report.file_hash, plan.entry, int(state["global_step"]))
        state["files"][report.file_hash] = plan.entry
        state["current_file"] = report.file_hash

        t = cfg.training
        steps = distributed.optimizer_steps(
            len(plan.packs), t.batch_size, t.grad_accum, ranks.world
        )
        if not resume:  # a new lineage: its warmup is sized to its first file, once
            state["warmup_steps"] = lineage_warmup(t, steps)
        run = TrainRun(ws, conn, run_id, job_id, path, started)
        if ranks.main:
            run.start(cfg, state, plan, steps=steps, device=device)
        if not plan.packs:
            return _nothing_left(ws, run, state, plan, resume, ranks.main)

        ctx = RunContext(
            ws=ws,
            cfg=cfg,
            conn=conn,
            run=run,
            lineage=state,
            file_hash=report.file_hash,
            heldout=plan.heldout,
            data=(report.dataset["input_ids"], report.dataset["labels"]),
            pad_id=pad_id(tokenizer),
            rows_total=len(plan.order),
            steps_total=steps,
            control=_control(ranks.main, control, ws, started),
            progress=progress if ranks.main else None,
            main=ranks.main,
        )
        trainer = build_trainer(
            ctx,
            report,
            tokenizer,
            plan,
            resume=resume,
            device=device,
            status=status or StatusWriter(ws),
            extra=callbacks,
        )
        if ranks.multi:
            trainer.add_callback(distributed.rank_sync(trainer))
        with ctx.stop_on_sigterm():
            try:
                trainer.train(resume_from_checkpoint=str(ws.current) if resume else None)
            except Exception as err:
                if ranks.main:
                    run.failed(err, ctx.ckpt_step)
                raise
        return ctx.outcome(path)
    finally:
        conn.close()


def _open(
    ws: Workspace, conn: Any, cfg: Config, file_hash: str
) -> tuple[dict[str, Any], bool, str]:
    """Rank 0's part of the start: the lineage (its saved state, else a new one), the runs a
    dead process left open closed, the new run's id."""
    state, resume = lineage.open_lineage(ws, conn, cfg)
    reconcile(ws, conn, state if resume else None)
    return state, resume, new_run_id(ws, file_hash)


def _control(
    main: bool, control: Callable[[], str | None] | None, ws: Workspace, started: float
) -> Callable[[], str | None]:
    """Rank 0 reads the control channel; the others hear its request through ``poll``."""
    if not main:
        return lambda: None
    return control or control_channel.training_reader(ws, since=started)


def _done_before(path: Path, file_hash: str, entry: dict[str, Any], step: int) -> TrainOutcome:
    return TrainOutcome(
        "completed",
        None,
        file_hash,
        rows_total=entry["rows_total"],
        rows_trained=0,
        next_row=entry["next_row"],
        global_step=step,
        tokens=0,
        message=f"{path.name} was already trained in this lineage; nothing to do "
        "(--force trains it again)",
    )


def _nothing_left(
    ws: Workspace,
    run: TrainRun,
    state: dict[str, Any],
    plan: lineage.FilePlan,
    resume: bool,
    main: bool = True,
) -> TrainOutcome:
    """Every row was trained before a pause at the file's last step: the file is complete."""
    rows = len(plan.order)
    plan.entry.update(status="completed", next_row=rows)
    if resume and main:
        lineage.write_state(ws, state)
    outcome = TrainOutcome(
        "completed",
        run.run_id,
        str(state["current_file"]),
        rows_total=rows,
        rows_trained=0,
        next_row=rows,
        global_step=int(state["global_step"]),
        tokens=0,
        message="nothing left to train in this file",
    )
    return run.finish(outcome) if main else outcome
