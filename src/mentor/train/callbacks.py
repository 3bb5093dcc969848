"""Every ``TrainerCallback`` of a training run.

* :class:`LineageCallback`: after every optimizer step: the lineage's position and counters,
  the control request (pause/stop/skip, SIGTERM), validation loss, when to log and to
  checkpoint, the ``metrics.jsonl`` record, the progress report; on every save: the checkpoint
  swapped into ``ws.current`` with its state and then its ledger rows.
* :class:`LivePreviewCallback`: when to run a live preview (:mod:`mentor.evals.previews`),
  within a share of the training time.
* :class:`MonitorCallback`: the alert rules of :mod:`mentor.monitor.alerts` on every log.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from mentor.data.chat import ChatRenderer
from mentor.data.validate import ValidationReport
from mentor.evals.previews import (
    PreviewRunner,
    is_evolution_step,
    is_peft,
    load_probes,
    write_preview,
)
from mentor.evals.tasks import is_syllo, items_from_rows
from mentor.monitor import alerts as alerts_mod
from mentor.monitor import system
from mentor.paths import RunFolder, Workspace
from mentor.store import connect
from mentor.train import distributed
from mentor.train.context import RunContext
from mentor.train.lineage import commit_checkpoint, ledger_tail, write_ledger
from mentor.train.run_folder import mem_gib

log = logging.getLogger(__name__)

LOG_HISTORY_KEPT = (
    200  # trainer_state.json keeps the last records only (it lives as long as the lineage)
)


class LineageCallback(TrainerCallback):  # type: ignore[misc]
    """The lineage's bookkeeping around the Trainer's loop (see the module docstring)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.ctx.t0 = self.ctx.window_t = time.perf_counter()
        return control

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        # Creating the epoch's DataLoader iterator draws from the torch RNG after the Trainer
        # restored it; restore again right before the first update so dropout masks match an
        # uninterrupted run exactly. (No public Trainer API loads a checkpoint's RNG state.)
        ctx = self.ctx
        if ctx.restore_rng is not None:
            ctx.trainer._load_rng_state(ctx.restore_rng)
            ctx.restore_rng = None
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        ctx = self.ctx
        step = int(state.global_step)
        if ctx.trainer.nan_step is not None:  # do not keep, log or checkpoint this update
            control.should_training_stop = True
            control.should_log = control.should_save = False
            return control
        ctx.end_step(step)
        action = ctx.poll()
        last = step >= state.max_steps and action is None
        val_every = ctx.cfg.eval.val_every
        if (val_every and step % val_every == 0) or last:
            ctx.validate(kwargs["model"], step)
        if action is not None or last:  # checkpoint and log the run's last step
            ctx.close_file(action)
            control.should_training_stop = control.should_save = control.should_log = True
        ctx.report_progress(step, action, kwargs.get("lr_scheduler"))
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> Any:
        ctx = self.ctx
        state.log_history = state.log_history[-LOG_HISTORY_KEPT:]
        if not logs or "loss" not in logs or ctx.trainer.nan_step is not None or not ctx.main:
            return control
        step = int(state.global_step)
        record = {
            "step": step,
            "loss": logs.get("loss"),
            "lr": logs.get("learning_rate"),
            "grad_norm": logs.get("grad_norm"),
            **ctx.throughput(),
            "mem_gib": mem_gib(),
            **system.metrics_fields(ctx.ws),
            "tokens": ctx.lineage.get("tokens"),
            "next_row": ctx.entry["next_row"],
            "file_hash": ctx.file_hash,
            "ts": time.time(),
        }
        if ctx.val_at_step == step:
            record["val_loss"] = ctx.last_val
        ctx.run.write_metrics(record)
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(OSError):  # keep it only when a tracker wrote logs there
            Path(args.output_dir).rmdir()
        return control

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """The Trainer wrote ``checkpoint-<step>``: it becomes ``ws.current`` with the lineage's
        state, then the ledger records the rows it covers (a crash in between is repaired from
        the state's ``ledger_tail`` on the next start). With several ranks every rank has written
        its RNG state into the folder before rank 0 moves it, and only rank 0 records."""
        ctx = self.ctx
        distributed.barrier()
        if not ctx.main:
            ctx.uncommitted, ctx.ckpt_step = [], int(state.global_step)
            return control
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        tail = ledger_tail(ctx.run.run_id, ctx.file_hash, ctx.uncommitted)
        lineage = dict(ctx.lineage, ledger_tail=tail)
        commit_checkpoint(ctx.ws, folder, lineage)
        write_ledger(ctx.conn, int(ctx.lineage["lineage_id"]), tail)
        ctx.uncommitted = []
        ctx.ckpt_step = int(state.global_step)
        ctx.run.checkpointed(ctx.ckpt_step)
        return control


class LivePreviewCallback(TrainerCallback):  # type: ignore[misc]
    """Live previews + evolution snapshots during ``Trainer.train``.

    ``renderer`` is the training ChatRenderer; ``probes`` are held-out chat rows (None = the
    SYLLO probe set). ``every`` overrides ``eval.live_every`` (0 = off); ``budget_share`` bounds
    the share of training time spent previewing (``None`` = no budget: every due preview runs);
    ``status`` is the training's :class:`mentor.monitor.status.StatusWriter`.

    The budget is amortised: the first preview of a run always runs, so a user sees answers
    early; after it a preview runs when the preview time so far plus the last preview's stays
    within ``budget_share`` of the training time so far. A due preview that does not fit is
    skipped; an evolution step that does not fit stays pending and is taken at the first step
    that fits (``step`` = when taken, ``scheduled_step`` = the schedule's). The step-0 snapshot
    of a fresh PEFT adapter (LoRA B = 0, so adapters off = the untrained model) is likewise
    taken at the first step with adapters disabled; for a full fine-tune it runs at once.
    """

    def __init__(
        self,
        ws: Workspace,
        cfg: Any,
        run_dir: Path,
        renderer: Any,
        probes: list[dict[str, Any]] | None = None,
        *,
        every: int | None = None,
        budget_share: float | None = 0.04,
        max_new_tokens: int | None = None,
        evolution: bool = True,
        status: Any = None,
        job_id: int | None = None,
    ) -> None:
        self.ws = ws
        self.folder = RunFolder(Path(run_dir))
        self.every = int(cfg.eval.live_every if every is None else every)
        self.budget_share = budget_share
        self.evolution = evolution
        self.job_id = job_id
        self._status = status
        self.enabled = self.every > 0
        self.runner: PreviewRunner | None = None
        if self.enabled:
            items = load_probes(int(cfg.eval.probe_count), probes)
            self.runner = PreviewRunner(renderer, items, max_new_tokens=max_new_tokens)
        self.preview_s = 0.0
        self.train_s = 0.0
        self._mark: float | None = None
        self.skipped = 0
        self.pending_evolution: int | None = None
        self.pending_base = False
        self.records: list[dict[str, Any]] = []

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._mark is not None:
            self.train_s += now - self._mark
        self._mark = now

    def _affordable(self) -> bool:
        if self.budget_share is None or not self.records:
            return True
        last = float(self.records[-1]["seconds_total"])
        return self.preview_s + last <= self.budget_share * self.train_s

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        model = kwargs.get("model")
        fresh = int(state.global_step) == 0 and self.evolution
        if self.enabled and fresh and model is not None and _is_main(state):
            if self.budget_share is None or not is_peft(model):
                self._preview(args, state, model, evolution=True, scheduled=0)
            else:
                self.pending_base = True
        self._mark = time.perf_counter()
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self._tick()
        if not self.enabled or not _is_main(state):
            return control
        step = int(state.global_step)
        if self.evolution and is_evolution_step(step) and self.pending_evolution is None:
            self.pending_evolution = step
        due = step % self.every == 0
        if not (due or self.pending_evolution is not None or self.pending_base):
            return control
        if not self._affordable():
            self.skipped += int(due)
            return control
        model = kwargs.get("model")
        if self.pending_base:
            self.pending_base = False
            self._preview(args, state, model, evolution=True, scheduled=0, base=True)
        else:
            scheduled = self.pending_evolution
            self.pending_evolution = None
            self._preview(args, state, model, evolution=scheduled is not None, scheduled=scheduled)
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self._tick()
        return control

    def _preview(
        self,
        args: Any,
        state: Any,
        model: Any,
        *,
        evolution: bool,
        scheduled: int | None = None,
        base: bool = False,
    ) -> None:
        if model is None or self.runner is None:
            return
        step = 0 if base else int(state.global_step)
        t0 = time.perf_counter()
        try:
            rec = self.runner.run(
                model, step, autocast_bf16=bool(getattr(args, "bf16", False)), base=base
            )
        except Exception:  # a broken preview must never stop training
            log.exception("live preview at step %d failed", step)
            self._mark = time.perf_counter()
            return
        rec["taken_at_step"] = int(state.global_step)
        if scheduled is not None:
            rec["scheduled_step"] = scheduled
        rec["skipped_before"], self.skipped = self.skipped, 0
        write_preview(
            self.ws, self.folder, rec, evolution=evolution, status=self._status, job_id=self.job_id
        )
        rec["seconds_total"] = round(time.perf_counter() - t0, 4)
        self.preview_s += rec["seconds_total"]
        self.records.append(rec)
        self._mark = time.perf_counter()  # preview time is not training time


def _is_main(state: Any) -> bool:
    return bool(getattr(state, "is_world_process_zero", True))


class MonitorCallback(TrainerCallback):  # type: ignore[misc]
    """On every Trainer log: system sample + alert rules over ``metrics.jsonl`` -> events/status."""

    def __init__(
        self,
        ws: Workspace,
        cfg: Any,
        run_dir: Path,
        *,
        status: Any = None,
        job_id: int | None = None,
        dedup_s: float = 600.0,
    ) -> None:
        self.ws = ws
        self.folder = RunFolder(Path(run_dir))
        self.rules = alerts_mod.Rules.from_config(cfg)
        self._status = status
        self.job_id = job_id
        self.dedup_s = dedup_s

    def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if not _is_main(state):
            return control
        try:
            self.check()
        except Exception:
            log.exception("alert check failed")
        return control

    def check(self) -> list[alerts_mod.Alert]:
        records = alerts_mod.tail_jsonl(self.folder.metrics, 50)
        found = alerts_mod.check(records, system.sample(self.ws), self.rules)
        conn = connect(self.ws.db)
        try:
            alerts_mod.record(conn, found, dedup_s=self.dedup_s, job_id=self.job_id)
        finally:
            conn.close()
        writer = self._status
        if writer is None:
            from mentor.monitor.status import StatusWriter

            writer = StatusWriter(self.ws)
        writer.update(active_alerts=[f"{a.level}: {a.message}" for a in found])
        writer.flush()
        return found


def preview_probes(report: ValidationReport, heldout: list[int]) -> list[dict[str, Any]] | None:
    """What live previews ask: None = the SYLLO probe split (never trained on) for SYLLO data,
    else this file's held-out rows (empty: previews off, nothing is held out to ask)."""
    assert report.parsed is not None
    parsed = report.parsed
    held = [parsed.row_json(i) for i in heldout]
    sample = held or [parsed.row_json(0) for _ in parsed.raw[:1]]
    return None if sample and is_syllo(items_from_rows(sample)) else held


def run_callbacks(
    ctx: RunContext, report: ValidationReport, tokenizer: Any, status: Any
) -> list[Any]:
    """The lineage callback, live previews and the monitor of one run."""
    probes = preview_probes(report, ctx.heldout)
    folder, job_id = ctx.run.folder.path, ctx.run.job_id
    preview = LivePreviewCallback(
        ctx.ws,
        ctx.cfg,
        folder,
        ChatRenderer.from_config(tokenizer, ctx.cfg.chat),
        probes=probes,
        every=None if probes is None or probes else 0,
        status=status,
        job_id=job_id,
    )
    monitor = MonitorCallback(ctx.ws, ctx.cfg, folder, status=status, job_id=job_id)
    out: list[Any] = [LineageCallback(ctx), preview, monitor]
    if ctx.cfg.training.early_stopping.enabled:  # last: it has the final word on saving
        from mentor.train.early_stop import EarlyStoppingCallback

        out.append(EarlyStoppingCallback(ctx, preview))
    return out
