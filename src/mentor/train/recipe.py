"""``train_file``: train the workspace's lineage on one file, resumably (DESIGN "Continuous training").

Top to bottom: validate the file; open the lineage (its checkpoint, else a new one) and close the
runs a dead process left open; plan the file from its saved row (held-out split, seeded order,
packs); open the run folder; build the Trainer with mentor's callbacks; train until the file
ends or a pause/stop/skip/SIGTERM; close the run with its outcome. The parts:
:mod:`~mentor.train.lineage`, :mod:`~mentor.train.run_folder`, :mod:`~mentor.train.trainer`,
:mod:`~mentor.train.callbacks`, :mod:`~mentor.train.model`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mentor import control as control_channel
from mentor.config import Config
from mentor.data.packing import pad_id
from mentor.data.validate import ValidationReport, validate_file
from mentor.paths import Workspace
from mentor.store import connect
from mentor.train import lineage
from mentor.train.context import RunContext
from mentor.train.run_folder import TrainOutcome, TrainRun, new_run_id, reconcile


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
    """
    from mentor.models.loader import default_device, load_tokenizer
    from mentor.monitor.status import StatusWriter
    from mentor.train.trainer import build_trainer

    path, started, device = Path(path), time.time(), default_device()
    tokenizer = load_tokenizer(cfg.model_path(ws.home))
    if report is None:
        report = validate_file(ws, cfg, path, tokenizer=tokenizer, on_overlength=on_overlength)
    report.raise_if_refused()  # never fail open: training takes its rows from a passed report
    conn = connect(ws.db)
    try:
        state, resume = lineage.open_lineage(ws, conn, cfg)
        reconcile(ws, conn, state if resume else None)
        plan = lineage.plan_file(state, report, cfg, path.name, force)
        if plan.done_before:
            return _done_before(path, report.file_hash, plan.entry, int(state["global_step"]))
        state["files"][report.file_hash] = plan.entry
        state["current_file"] = report.file_hash

        t = cfg.training
        steps = math.ceil(math.ceil(len(plan.packs) / t.batch_size) / t.grad_accum)
        run = TrainRun(ws, conn, new_run_id(ws, report.file_hash), job_id, path, started)
        run.start(cfg, state, plan, steps=steps, device=device)
        if not plan.packs:
            return _nothing_left(ws, run, state, plan, resume)

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
            control=control or control_channel.training_reader(ws, since=started),
            progress=progress,
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
        with ctx.stop_on_sigterm():
            try:
                trainer.train(resume_from_checkpoint=str(ws.current) if resume else None)
            except Exception as err:
                run.failed(err, ctx.ckpt_step)
                raise
        return ctx.outcome(path)
    finally:
        conn.close()


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
    ws: Workspace, run: TrainRun, state: dict[str, Any], plan: lineage.FilePlan, resume: bool
) -> TrainOutcome:
    """Every row was trained before a pause at the file's last step: the file is complete."""
    rows = len(plan.order)
    plan.entry.update(status="completed", next_row=rows)
    if resume:
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
    return run.finish(outcome)
