"""What one ``train_file`` call shares between the recipe, the trainer and the callbacks.

:class:`RunContext` keeps the lineage's state as training moves it (global step, tokens, the
file's next row), the rows trained since the last checkpoint (written to the ledger only with a
checkpoint), the last losses, and the counters behind throughput and progress.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor import control as control_channel
from mentor.config import Config
from mentor.control import on_sigterm
from mentor.data.packing import PaddedCollator
from mentor.models.nll import row_nll
from mentor.paths import Workspace
from mentor.store import kv
from mentor.store.events import emit
from mentor.train import distributed, lineage
from mentor.train.run_folder import Status, TrainOutcome, TrainRun, mem_gib

log = logging.getLogger(__name__)

ENDED: dict[str | None, Status] = {
    None: "completed",
    "pause": "paused",
    "stop": "stopped",
    "skip": "skipped",
}


@dataclass
class RunContext:
    ws: Workspace
    cfg: Config
    conn: sqlite3.Connection
    run: TrainRun
    lineage: dict[str, Any]  # the lineage's state as training moves it (mentor_state.json)
    file_hash: str
    heldout: list[int]  # dataset indices of the held-out rows
    data: tuple[list[list[int]], list[list[int]]]  # input_ids and labels of every row
    pad_id: int
    rows_total: int  # length of the file's training order
    steps_total: int  # optimizer steps this call trains
    control: Callable[[], str | None]
    progress: Callable[[dict[str, Any]], None] | None = None
    main: bool = True  # rank 0 (or the only process): the one that writes (train.distributed)
    trainer: Any = None
    replay: Any = None  # the ReplaySet mixed into this run (train.replay), None without replay
    uncommitted: list[tuple[int, list[int]]] = field(default_factory=list)  # (step, rows)
    start_step: int = field(init=False)  # the lineage's step when this call started
    ckpt_step: int = field(init=False)  # the step of the last checkpoint
    restore_rng: str | None = field(init=False)  # checkpoint whose RNG the first step restores
    action: str | None = None  # pause | stop | skip, once acted on
    sigterm: bool = False
    stopper: Any = None  # the EarlyStopper when training.early_stopping is on
    early_stop: dict[str, Any] | None = None  # why and where early stopping ended the file
    last_loss: float | None = None
    last_val: float | None = None
    val_at_step: int | None = None
    rows_trained: int = 0
    tokens: int = 0
    label_tokens: int = 0
    t0: float = field(default_factory=time.perf_counter)
    window_t: float = field(default_factory=time.perf_counter)
    window: dict[str, int] = field(default_factory=lambda: {"tokens": 0, "labels": 0, "slots": 0})

    def __post_init__(self) -> None:
        self.start_step = self.ckpt_step = int(self.lineage["global_step"])
        # a resumed lineage's checkpoint: rng_state.pth, or rng_state_<rank>.pth after DDP
        rng = any(self.ws.current.glob("rng_state*.pth"))
        self.restore_rng = str(self.ws.current) if rng else None

    @property
    def entry(self) -> dict[str, Any]:
        """The file's entry in the lineage state (name, rows_total, next_row, status...)."""
        return dict(self.lineage["files"][self.file_hash])

    def set_entry(self, **fields: Any) -> None:
        files = self.lineage["files"]
        files[self.file_hash] = dict(files[self.file_hash], **fields)

    def poll(self) -> str | None:
        """The control request to act on now (SIGTERM counts as stop), the same on every rank."""
        return distributed.agree("stop" if self.sigterm else self._requested())

    def _requested(self) -> str | None:
        try:
            action = self.control()
        except Exception as err:  # a broken control source must not kill training
            log.warning("control read failed: %s", err)
            return None
        return action if action in control_channel.TRAINING_ACTIONS else None

    def end_step(self, global_step: int) -> None:
        """After an optimizer step: position, counters; its rows wait for the next checkpoint."""
        book = self.trainer.book.take()
        self.uncommitted.append((global_step, book.rows))
        self.set_entry(next_row=book.end, status="in_progress")
        lin = self.lineage
        lin["global_step"] = global_step
        lin["tokens"] = self.trainer.schedule.tokens
        lin["label_tokens"] = int(lin.get("label_tokens", 0)) + book.labels
        self.rows_trained += len(book.rows)
        self.tokens += book.tokens
        self.label_tokens += book.labels
        self.window["tokens"] += book.tokens
        self.window["labels"] += book.labels
        self.window["slots"] += book.slots
        self.last_loss = book.loss

    def oom_event(self, step: int, micro_batch: int, grad_accum: int) -> None:
        emit(
            self.conn,
            "train.oom_retry",
            f"out of memory at step {step}: micro-batch {micro_batch}, accumulation "
            f"x{grad_accum} (same effective batch)",
            level="warning",
            job_id=self.run.job_id,
            run_id=self.run.run_id,
            step=step,
            micro_batch=micro_batch,
            grad_accum=grad_accum,
        )

    def close_file(self, action: str | None) -> None:
        """The run ends at this step: the file is completed, skipped, or stays in progress."""
        self.action = action
        if action is None:
            self.set_entry(status="completed", next_row=self.rows_total)
        elif action == "skip":
            self.set_entry(status="skipped")

    def validate(self, model: Any, step: int) -> None:
        """Token-weighted loss on every held-out row, whole (no truncation), with the training
        mask (answer tokens only)."""
        if not self.heldout or not self.main:
            return
        ids, labels = self.data
        collate = PaddedCollator(self.pad_id)
        bs = max(1, self.cfg.training.batch_size * 2)
        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        try:
            for i in range(0, len(self.heldout), bs):
                batch = collate(
                    [
                        {"segments": [(ids[r], labels[r])], "rows": (r,), "start": 0, "end": 0}
                        for r in self.heldout[i : i + bs]
                    ]
                )
                sums, counts = row_nll(model, batch)
                total += sum(sums)
                count += sum(counts)
        finally:
            model.train(was_training)
        self.last_val = total / max(count, 1)
        self.val_at_step = step

    def throughput(self) -> dict[str, float]:
        """Tokens/s since the last call (a logging window)."""
        now = time.perf_counter()
        dt = max(now - self.window_t, 1e-9)
        w = self.window
        out = {
            "tokens_per_s": round(w["tokens"] / dt, 1),
            "trained_tokens_per_s": round(w["labels"] / dt, 1),
            "padding_share": round(1 - w["tokens"] / w["slots"], 4) if w["slots"] else 0.0,
        }
        self.window_t = now
        self.window = {"tokens": 0, "labels": 0, "slots": 0}
        return out

    def summary_metrics(self) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.t0
        return {
            "loss": self.last_loss,
            "val_loss": self.last_val,
            "tokens_per_s": round(self.tokens / elapsed, 1) if elapsed > 0 else 0.0,
            "trained_tokens_per_s": round(self.label_tokens / elapsed, 1) if elapsed > 0 else 0.0,
            "label_tokens": self.label_tokens,
            "seconds": round(elapsed, 2),
            "lineage_tokens": self.lineage["tokens"],
            "lr": float(self.trainer.lr_scheduler.get_last_lr()[0]),
            "oom_split": self.trainer.split,
        }

    def report_progress(self, step: int, action: str | None, scheduler: Any) -> None:
        if self.progress is None:
            return
        done = step - self.start_step
        elapsed = time.perf_counter() - self.t0
        self.progress(
            {
                "step": step,
                "file_step": done,
                "file_steps": self.steps_total,
                "loss": self.last_loss,
                "val_loss": self.last_val,
                "lr": float(scheduler.get_last_lr()[0]) if scheduler is not None else None,
                "tokens_per_s": self.tokens / elapsed if elapsed > 0 else 0.0,
                "trained_tokens_per_s": self.label_tokens / elapsed if elapsed > 0 else 0.0,
                "eta_s": elapsed / done * (self.steps_total - done) if done else None,
                "rows_trained": self.rows_trained,
                "next_row": self.entry["next_row"],
                "rows_total": self.rows_total,
                "action": action,
            }
        )

    def outcome(self, path: Path) -> TrainOutcome:
        """What the run did, recorded: the runs row, the event, ``summary.json``."""
        return (
            self._stopped_on_nan(path)
            if self.trainer.nan_step is not None
            else self._finished(path)
        )

    def _finished(self, path: Path) -> TrainOutcome:
        kept = self.keep_best(path)
        step, entry = int(self.lineage["global_step"]), self.entry
        status = ENDED[self.action]
        if kept is not None:
            message = kept
        elif self.action is None:
            message = (
                f"{path.name}: trained {self.rows_trained} rows in {step - self.start_step} steps"
            )
        else:
            message = (
                f"{path.name}: {status} at row {entry['next_row']}/{self.rows_total}, step {step}"
            )
        metrics = {**self.summary_metrics(), "mem_gib": mem_gib()}
        if self.early_stop is not None:
            metrics["early_stop"] = self.early_stop
        if self.main:
            kv.put(self.conn, kv.Key.TRAIN_TOKENS_PER_S, str(metrics["tokens_per_s"]))
        outcome = TrainOutcome(
            status,
            self.run.run_id,
            self.file_hash,
            rows_total=self.rows_total,
            rows_trained=self.rows_trained,
            next_row=int(entry["next_row"]),
            global_step=step,
            tokens=self.tokens,
            metrics=metrics,
            message=message,
        )
        return self.run.finish(outcome) if self.main else outcome

    def keep_best(self, path: Path) -> str | None:
        """With early stopping, the file ends at its best checkpoint, not its last step: the
        saved state (``ws.current``, the best) closes the file as completed there, the rows after
        it are not counted (nor in the ledger: no checkpoint covered them) and an event says why.
        Returns the outcome's message, or None when the last step is the one kept."""
        step = int(self.lineage["global_step"])
        stopper = self.stopper
        if stopper is None or stopper.best_step is None or self.action is not None:
            return None
        if self.ckpt_step == step:
            return None  # the last step was the best and is checkpointed
        saved = lineage.read_state(self.ws)
        assert saved is not None  # the best was checkpointed
        info = self.early_stop or {
            "stopped_at": None,
            "metric": self.cfg.training.early_stopping.metric,
            **stopper.to_dict(),
        }
        kept, rows = int(saved["global_step"]), self.rows_total
        info = {**info, "kept_step": kept, "last_step": step}
        entry = dict(saved["files"][self.file_hash], status="completed", early_stop=info)
        saved["files"][self.file_hash] = entry
        lineage.write_state(self.ws, saved)
        self.lineage = saved
        self.rows_trained -= sum(len(r) for _, r in self.uncommitted)
        self.uncommitted = []
        self.early_stop = info
        best = f"{info['metric']}={stopper.best:.4g} at step {kept}"
        if info["stopped_at"] is not None:
            why = (
                f"no improvement of {info['metric']} by more than {stopper.min_delta:g} in "
                f"{stopper.patience} evaluation(s); stopped at step {step}"
            )
            kind = "train.early_stopped"
        else:
            why = f"the file ended at step {step} below its best"
            kind = "train.kept_best"
        msg = (
            f"{path.name}: {why}; kept the best checkpoint ({best}): rows up to "
            f"{entry['next_row']}/{rows} trained, the lineage continues from step {kept}"
        )
        self.run.event(kind, msg, **info)
        return msg

    def _stopped_on_nan(self, path: Path) -> TrainOutcome:
        """The loss became NaN/Inf: the update was not kept; the last checkpoint stands."""
        nan, kept, ws = self.trainer.nan_step, self.ckpt_step, self.ws
        msg = f"{path.name}: loss became NaN/Inf at step {nan}; training stopped"
        if kept > 0 or self.start_step > 0:
            msg += f" and the last good checkpoint (step {kept}) is kept in {ws.current}"
        else:
            msg += ", nothing was kept"
        if self.main:
            self.run.event("train.nan", msg, level="error", step=nan)
        saved = lineage.read_state(ws) or {}
        outcome = TrainOutcome(
            "failed",
            self.run.run_id,
            self.file_hash,
            rows_total=self.rows_total,
            rows_trained=0,
            next_row=int(saved.get("files", {}).get(self.file_hash, {}).get("next_row", 0)),
            global_step=kept,
            tokens=self.tokens,
            metrics={**self.summary_metrics(), "mem_gib": mem_gib()},
            message=msg,
        )
        return self.run.finish(outcome, kept_step=kept) if self.main else outcome

    @contextlib.contextmanager
    def stop_on_sigterm(self) -> Iterator[None]:
        """SIGTERM checkpoints and stops at the end of the current optimizer step (lessons 16)."""

        def flag(signum: int, frame: Any) -> None:
            self.sigterm = True

        with on_sigterm(flag):
            yield
