"""Early stopping within a file (issue 17), counted in evaluations, keeping the best checkpoint.

:class:`EarlyStopper` is the decision alone: patience and ``min_delta`` over a series of
evaluations. :class:`EarlyStoppingCallback` applies it inside ``Trainer.train``:

* an evaluation is a validation loss (``metric: val_loss``, every ``eval.val_every`` steps and at
  the file's last step) or a live preview (``metric: preview.<name>``);
* an evaluation that improves on the best checkpoints at once, so ``ws.current`` (and the ledger)
  hold the best state; with early stopping on, no other step checkpoints while training goes on
  (periodic saves are held back), so ``ws.current`` never holds a state worse than the best;
* after ``patience`` evaluations without improvement the file's training ends; the rows trained
  after the best are not kept (no checkpoint covered them), the file is closed as completed at the
  best's position (:meth:`RunContext.keep_best`) and ``train.early_stopped`` records why;
* a file that ends without stopping likewise keeps its best state, not its last.

Pause, stop, skip and SIGTERM checkpoint where they are, as without early stopping: a paused file
must resume exactly. The count starts again when a file resumes (from its paused checkpoint).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainerCallback

from mentor.train.context import RunContext

LOWER_IS_BETTER = ("val_loss", "loss", "perplexity", "truncated")


@dataclass
class EarlyStopper:
    """Patience over evaluations: :meth:`update` says whether training should stop."""

    patience: int
    min_delta: float = 0.0
    lower_is_better: bool = True
    best: float | None = None
    best_step: int | None = None
    bad: int = 0  # evaluations in a row without improvement
    history: list[tuple[int, float]] = field(default_factory=list)
    improved: bool = False  # whether the last update improved the best

    @classmethod
    def from_config(cls, es: Any) -> EarlyStopper:
        name = es.metric.removeprefix("preview.")
        return cls(int(es.patience), float(es.min_delta), name in LOWER_IS_BETTER)

    def update(self, step: int, value: float) -> bool:
        """Record the evaluation at ``step``; True when ``patience`` evaluations in a row have
        not improved on the best by more than ``min_delta`` (a NaN never improves)."""
        self.history.append((step, value))
        gain = math.nan
        if self.best is not None and not math.isnan(value):
            gain = self.best - value if self.lower_is_better else value - self.best
        self.improved = not math.isnan(value) and (self.best is None or gain > self.min_delta)
        if self.improved:
            self.best, self.best_step, self.bad = value, step, 0
            return False
        self.bad += 1
        return self.bad >= self.patience

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_step": self.best_step,
            "patience": self.patience,
            "min_delta": self.min_delta,
            "evaluations": len(self.history),
        }


def preview_value(record: dict[str, Any], name: str) -> float | None:
    """A live preview's ``name``: a top-level figure (solved_share, loss) or one of its scores."""
    value = record.get(name)
    if value is None:
        value = (record.get("scores") or {}).get(name)
    return float(value) if isinstance(value, int | float) else None


class EarlyStoppingCallback(TrainerCallback):  # type: ignore[misc]
    """Early stopping of one run; placed after the lineage and preview callbacks, so it sees this
    step's validation loss and preview and has the last word on saving (module docstring)."""

    def __init__(self, ctx: RunContext, preview: Any = None) -> None:
        es = ctx.cfg.training.early_stopping
        self.ctx = ctx
        self.metric = es.metric
        self.preview = preview  # the LivePreviewCallback (its records) for preview.<name>
        self.stopper = EarlyStopper.from_config(es)
        ctx.stopper = self.stopper

    def _evaluation(self, step: int) -> float | None:
        ctx = self.ctx
        if self.metric == "val_loss":
            return ctx.last_val if ctx.val_at_step == step else None
        records = getattr(self.preview, "records", None) or []
        last = records[-1] if records else None
        if last is None or last.get("taken_at_step") != step or last.get("adapters") == "off":
            return None
        return preview_value(last, self.metric.removeprefix("preview."))

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        ctx = self.ctx
        step = int(state.global_step)
        if ctx.trainer.nan_step is not None or ctx.action is not None:
            return control  # NaN, pause, stop, skip: as without early stopping
        value = self._evaluation(step)
        stop = value is not None and self.stopper.update(step, value)
        if value is not None and self.stopper.improved:
            control.should_save = True  # the best so far becomes ws.current
            return control
        if self.stopper.best_step is None:
            return control  # nothing evaluated yet in this run: saves as without early stopping
        control.should_save = False  # never keep a state worse than the best
        if stop:
            ctx.early_stop = {
                "stopped_at": step,
                "metric": self.metric,
                "value": value,
                **self.stopper.to_dict(),
            }
            control.should_training_stop = control.should_log = True
        return control
