"""One trial: train a scratch copy of the lineage on the data file, score the held-out loss.

Each trial gets its own workspace under ``<home>/tune/<study>/trial-NNNN``: ``model/current``
starts as a copy of the live lineage (or empty for a new lineage), with its own ``state.db`` and
``runs/``. The live ``model/current``, ``state.db`` and versions are only ever read. Training is
:func:`mentor.train.train_file`, unchanged: its ``progress`` callback feeds the pruner, its
``control`` callback stops a pruned trial after the step in flight.
"""

from __future__ import annotations

import contextlib
import gc
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor import config as config_mod
from mentor.config import Config
from mentor.config_patch import nest
from mentor.errors import ConfigError, DataError, JobError
from mentor.paths import Workspace
from mentor.tune.space import Space

COPY_ATTEMPTS = 3  # a checkpoint swap during the copy: copy again (the swap takes milliseconds)


class SearchInterrupted(Exception):
    """SIGTERM or Ctrl-C during a trial: the search stops; the trial's settings run again."""


def has_lineage(ws: Workspace) -> bool:
    return ws.current.is_dir() and any(ws.current.iterdir())


def _fingerprint(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def copy_lineage(src: Path, dest: Path) -> None:
    """A consistent copy of ``src`` (the live lineage): the same files before and after, or again.

    Training swaps a new checkpoint in by renaming directories, so a copy taken during a swap
    could mix two checkpoints; comparing names, sizes and mtimes around the copy detects it.
    """
    for attempt in range(COPY_ATTEMPTS):
        shutil.rmtree(dest, ignore_errors=True)
        try:
            before = _fingerprint(src)
            shutil.copytree(src, dest)
            if _fingerprint(src) == before:
                return
        except OSError:
            pass
        time.sleep(0.5 * (attempt + 1))
    raise JobError(
        f"{src} changed while it was copied ({COPY_ATTEMPTS} attempts): a training job is writing "
        "checkpoints",
        hint="pause training (`mentor pause`) while the search copies the lineage, or use --fresh",
    )


def scratch_workspace(ws: Workspace, study: str, number: int, *, continuing: bool) -> Workspace:
    home = ws.tune_trial(study, number)
    shutil.rmtree(home, ignore_errors=True)
    scratch = Workspace(home)
    for d in scratch.layout():
        d.mkdir(parents=True, exist_ok=True)
    if continuing:
        copy_lineage(ws.current, scratch.current)
    return scratch


def trial_config(ws: Workspace, base: Config, overrides: dict[str, Any]) -> Config:
    """The base config with the trial's settings; the model path made absolute (the scratch
    workspace has no ``models/``), validation every ``tune.val_every`` steps, previews off unless
    ``tune.live_previews``."""
    t = base.tune
    preset: dict[str, Any] = {
        "model.path": str(base.model_path(ws.home)),
        "eval.val_every": t.val_every,
    }
    if not t.live_previews:
        preset["eval.live_every"] = 0
    merged = config_mod.merge(config_mod.to_dict(base), nest({**preset, **overrides}))
    return Config.model_validate(merged)


@dataclass
class Reporter:
    """Turns ``train_file`` progress into ``trial.report(val_loss, point)`` calls.

    The point is the share of the file trained, in ``points`` equal parts: trials with different
    batch sizes take different numbers of steps, but at point k they have all seen the same rows.
    A validation loss is reported when it was measured at this step (``step % val_every == 0``)
    and lands in a part not reported yet.
    """

    val_every: int
    points: int
    start_row: int | None = None
    last: int = -1
    values: dict[int, float] = field(default_factory=dict)

    def point(self, p: dict[str, Any]) -> int | None:
        if self.start_row is None:
            self.start_row = int(p["next_row"]) - int(p["rows_trained"])
        val = p.get("val_loss")
        if val is None or int(p["step"]) % self.val_every != 0:
            return None
        span = max(1, int(p["rows_total"]) - self.start_row)
        k = min(self.points, self.points * int(p["rows_trained"]) // span)
        if k <= self.last:
            return None
        self.last = k
        self.values[k] = float(val)
        return k


@dataclass
class TrialRun:
    """What one trial needs besides the Optuna trial."""

    ws: Workspace
    base: Config
    data: Path
    report: Any  # the data file's ValidationReport, or None to validate per trial
    space: Space
    study: str
    continuing: bool
    on_start: Callable[[int, dict[str, Any]], None] | None = None
    on_progress: Callable[[int, dict[str, Any]], None] | None = None
    stop_requested: Callable[[], bool] = lambda: False


def run_trial(run: TrialRun, trial: Any) -> float:
    """The objective: the data file's final held-out validation loss (lower is better)."""
    try:
        return _run_trial(run, trial)
    except KeyboardInterrupt:
        trial.set_user_attr("note", "interrupted (Ctrl-C)")
        raise SearchInterrupted("interrupted (Ctrl-C)") from None


def _run_trial(run: TrialRun, trial: Any) -> float:
    import optuna

    from mentor.train import train_file

    params = run.space.suggest(trial)
    if run.on_start is not None:
        run.on_start(trial.number, params)
    cfg = trial_config(run.ws, run.base, params)
    scratch = scratch_workspace(run.ws, run.study, trial.number, continuing=run.continuing)
    trial.set_user_attr("scratch", str(scratch.home))
    rep = Reporter(cfg.eval.val_every, cfg.tune.report_points)
    state: dict[str, Any] = {"prune": None, "steps": 0}

    def control() -> str | None:
        return "stop" if state["prune"] is not None or run.stop_requested() else None

    def progress(p: dict[str, Any]) -> None:
        state["steps"] = int(p["file_step"])
        k = rep.point(p)
        if k is not None and state["prune"] is None:
            trial.report(rep.values[k], k)
            if trial.should_prune():
                state["prune"] = (
                    f"pruned at {k}/{rep.points} of the file (val_loss {rep.values[k]:.4g})"
                )
        if run.on_progress is not None:
            run.on_progress(trial.number, p)

    t0 = time.perf_counter()
    try:
        try:
            outcome = train_file(
                scratch,
                cfg,
                run.data,
                control=control,
                progress=progress,
                force=True,
                report=run.report,
            )
        except (JobError, DataError) as err:
            trial.set_user_attr("note", str(err))
            raise
        trial.set_user_attr("steps", state["steps"])
        trial.set_user_attr("seconds", round(time.perf_counter() - t0, 2))
        trial.set_user_attr("run_id", outcome.run_id)
        trial.set_user_attr("rows_trained", outcome.rows_trained)
        for key in ("loss", "tokens_per_s"):
            if outcome.metrics.get(key) is not None:
                trial.set_user_attr(key, outcome.metrics[key])
        if state["prune"] is not None:
            trial.set_user_attr("note", state["prune"])
            raise optuna.TrialPruned(state["prune"])
        if outcome.status == "failed":  # NaN/Inf loss: a setting that diverges is hopeless
            trial.set_user_attr("note", f"diverged: {outcome.message}")
            raise optuna.TrialPruned(outcome.message)
        if outcome.status != "completed":
            trial.set_user_attr("note", f"stopped: {outcome.message}")
            raise SearchInterrupted(outcome.message)
        value = outcome.metrics.get("val_loss")
        if value is None:
            raise ConfigError(
                f"{run.data}: no held-out rows to score a trial on",
                hint="use a larger file, or raise data.holdout_fraction for the search with --set",
            )
        if rep.points not in rep.values:
            trial.report(float(value), rep.points)
        return float(value)
    finally:
        _release(scratch, keep=cfg.tune.keep_weights)


def _release(scratch: Workspace, *, keep: bool) -> None:
    """Drop the trial's weights (unless kept) and free the memory its model held."""
    if not keep:
        shutil.rmtree(scratch.current.parent, ignore_errors=True)
        shutil.rmtree(scratch.cache, ignore_errors=True)
    for d in sorted(scratch.home.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()  # the layout's folders that the trial left empty
    gc.collect()
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
