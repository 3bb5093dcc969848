"""``mentor tune``: a resumable Optuna search over config keys, scored on the held-out loss.

The flow: validate the data file once (a refused file fails before any trial); pick the space
(a copy of the live lineage, or a new lineage with ``fresh``); under the study's lock, open or
resume the study, fail and requeue trials a dead process left running, queue the current
settings first on a new study; run trials until ``trials`` of them finished (completed or
pruned) or the budget is spent; write the best trial's changed keys as a config patch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mentor import config as config_mod
from mentor.config import Config
from mentor.config_patch import flatten, nest
from mentor.control import on_sigterm
from mentor.errors import ConfigError, DataError, JobError
from mentor.paths import Workspace, atomic_write_text
from mentor.tune import study as study_mod
from mentor.tune.space import LINEAGE_FIXED, Space, load_space
from mentor.tune.trial import SearchInterrupted, TrialRun, has_lineage, run_trial


@dataclass
class SearchOptions:
    data: Path
    trials: int | None = None  # None: tune.trials
    space_file: Path | None = None
    budget_minutes: float | None = None
    study: str | None = None  # None: <file stem>-<content hash>
    pruner: str | None = None  # None: tune.pruner
    seed: int | None = None  # None: tune.seed
    fresh: bool = False  # trials start a new lineage even when the workspace has one


class SearchEvents:
    """What a front end hears about (the CLI draws a progress bar per trial)."""

    def note(self, text: str) -> None: ...
    def trial_started(self, number: int, params: dict[str, Any]) -> None: ...
    def trial_progress(self, number: int, p: dict[str, Any]) -> None: ...
    def trial_finished(self, row: TrialRow) -> None: ...


@dataclass
class TrialRow:
    number: int
    state: str  # complete | pruned | fail | running | waiting
    params: dict[str, Any]
    value: float | None
    steps: int | None
    seconds: float | None
    note: str = ""
    last_value: float | None = None  # last reported validation loss (pruned trials)

    @classmethod
    def of(cls, t: Any) -> TrialRow:
        seconds = t.user_attrs.get("seconds")
        if seconds is None and t.datetime_start and t.datetime_complete:
            seconds = round((t.datetime_complete - t.datetime_start).total_seconds(), 2)
        inter = t.intermediate_values
        return cls(
            number=t.number,
            state=t.state.name.lower(),
            # a queued trial's settings are Optuna's fixed_params until it runs
            params=dict(t.params) or dict(t.system_attrs.get("fixed_params", {})),
            value=t.value if t.state.name == "COMPLETE" else None,
            steps=t.user_attrs.get("steps"),
            seconds=seconds,
            note=str(t.user_attrs.get("note", "")),
            last_value=inter[max(inter)] if inter else None,
        )


def _rank(row: TrialRow) -> tuple[int, float, int]:
    order = {"complete": 0, "pruned": 1}.get(row.state, 2)
    value = row.value if row.state == "complete" else row.last_value
    return order, float("inf") if value is None else value, row.number


@dataclass
class SearchResult:
    study: str
    storage: str
    data: str
    space: dict[str, Any]
    space_source: str
    continuing: bool
    trials_wanted: int
    done: int
    ran: int
    trials: list[TrialRow]
    best: TrialRow | None
    patch_file: str | None
    patch: dict[str, Any]
    stopped: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["trials"] = [r.__dict__ for r in self.trials]
        out["best"] = None if self.best is None else self.best.__dict__
        return out


def _validate_once(ws: Workspace, cfg: Config, data: Path) -> Any:
    """Validate the file as training will (a refused file fails before any trial)."""
    from mentor.data.validate import validate_file
    from mentor.models.loader import load_tokenizer

    if not data.is_file():
        raise DataError(f"{data}: not found", hint="pass the JSONL file to search on with --data")
    tok = load_tokenizer(cfg.model_path(ws.home))
    report = validate_file(None, cfg, data, tokenizer=tok, write_quarantine=False)
    report.raise_if_refused()
    return report


def _baseline(space: Space, live: Config) -> dict[str, Any] | None:
    """The current settings (mentor.yaml + --set) of the searched keys, when all lie in the space."""
    flat = flatten(config_mod.to_dict(live))
    values = {k: flat.get(k) for k in space.params}
    return values if all(p.contains(values[k]) for k, p in space.params.items()) else None


def _check_study_data(study: Any, file_hash: str, data: Path) -> None:
    seen = study.user_attrs.get("data_hash")
    if seen is None:
        study.set_user_attr("data_hash", file_hash)
        study.set_user_attr("data", str(data))
    elif seen != file_hash:
        raise ConfigError(
            f"study {study.study_name} was searched on another file "
            f"({study.user_attrs.get('data')}, content {seen[:8]}); its trials are not comparable",
            hint="pass --study NEW for this file",
        )


def run_search(
    ws: Workspace, cfg: Config, opts: SearchOptions, events: SearchEvents | None = None
) -> SearchResult:
    """Run (or resume) the search; ``cfg`` is the workspace config with any ``--set`` overrides."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ConfigError("mentor tune needs optuna", hint="pip install 'mentor[tune]'") from None
    events = events or SearchEvents()
    t = cfg.tune
    wanted = opts.trials or t.trials
    continuing = has_lineage(ws) and not opts.fresh
    space = load_space(opts.space_file, cfg, continuing=continuing)
    report = _validate_once(ws, _with(cfg, space.fixed), opts.data)
    name = study_mod.check_name(opts.study or study_mod.default_name(opts.data, report.file_hash))
    notes: list[str] = []
    if has_lineage(ws) and opts.fresh:
        notes.append("trials start a new lineage (--fresh): the live lineage is not copied")
    stop = {"flag": False}
    run = TrialRun(
        ws=ws,
        base=cfg,
        data=opts.data,
        report=None if "training.max_length" in space.params else report,
        space=space,
        study=name,
        continuing=continuing,
        on_start=events.trial_started,
        on_progress=events.trial_progress,
        stop_requested=lambda: stop["flag"],
    )
    # SIGTERM between trials stops the search after the trial in flight (which train_file
    # stops and checkpoints itself)
    with study_mod.study_lock(ws, name), on_sigterm(lambda *_: stop.update(flag=True)):
        study, storage = study_mod.open_study(
            ws,
            name,
            t,
            pruner=opts.pruner or t.pruner,
            seed=t.seed if opts.seed is None else opts.seed,
        )
        _check_study_data(study, report.file_hash, opts.data)
        notes += study_mod.recover(study, storage, t.max_retries)
        if not study.trials:
            _queue_first(study, space, cfg, t.baseline_first, notes)
        remaining = wanted - study_mod.count_done(study)
        ran, stopped = (
            _optimize(study, run, remaining, opts, events, stop) if remaining > 0 else (0, None)
        )
        rows = sorted((TrialRow.of(tr) for tr in study.get_trials(deepcopy=False)), key=_rank)
        best = next((r for r in rows if r.state == "complete"), None)
        patch_file: str | None = None
        patch: dict[str, Any] = {}
        if best is not None:
            patch_file, patch = _write_patch(ws, name, best, space, opts, continuing)
    return SearchResult(
        study=name,
        storage=study_mod.storage_url(ws, name),
        data=str(opts.data),
        space=space.to_dict(),
        space_source=space.source,
        continuing=continuing,
        trials_wanted=wanted,
        done=sum(r.state in ("complete", "pruned") for r in rows),
        ran=ran,
        trials=rows,
        best=best,
        patch_file=patch_file,
        patch=patch,
        stopped=stopped,
        notes=notes,
    )


def _optimize(
    study: Any,
    run: TrialRun,
    n: int,
    opts: SearchOptions,
    events: SearchEvents,
    stop: dict[str, bool],
) -> tuple[int, str | None]:
    """Run up to ``n`` trials within the budget: (trials run, why the search stopped or None).

    A trial that fails for its settings (out of memory, a refused file at its max_length) is
    marked failed and the search goes on; an interrupted one is queued again."""
    ran = 0

    def after(study: Any, frozen: Any) -> None:
        nonlocal ran
        ran += 1
        events.trial_finished(TrialRow.of(frozen))
        if stop["flag"]:
            study.stop()

    try:
        study.optimize(
            lambda trial: run_trial(run, trial),
            n_trials=n,
            timeout=None if opts.budget_minutes is None else opts.budget_minutes * 60,
            catch=(JobError, DataError),
            callbacks=[after],
        )
    except SearchInterrupted as err:
        _requeue_interrupted(study, run.base.tune.max_retries)
        return ran, str(err)
    return ran, "SIGTERM" if stop["flag"] else None


def _with(cfg: Config, fixed: dict[str, Any]) -> Config:
    if not fixed:
        return cfg
    return Config.model_validate(config_mod.merge(config_mod.to_dict(cfg), nest(fixed)))


def _queue_first(
    study: Any, space: Space, live: Config, baseline_first: bool, notes: list[str]
) -> None:
    if baseline_first:
        base = _baseline(space, live)
        if base is not None:
            study.enqueue_trial(base, user_attrs={"note": "the current settings"})
        else:
            notes.append("the current settings lie outside the space: no baseline trial")
    for settings in space.first_trials:
        study.enqueue_trial(settings, user_attrs={"note": "first_trials"})


def _requeue_interrupted(study: Any, max_retries: int) -> None:
    """The trial a SIGTERM or Ctrl-C stopped runs again when the search resumes."""
    from optuna.trial import TrialState

    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    if failed and failed[-1].user_attrs.get("note", "").startswith(("interrupted", "stopped")):
        study_mod.retry(study, failed[-1], max_retries)


def _round(value: Any) -> Any:
    return float(f"{value:.4g}") if isinstance(value, float) else value


def _write_patch(
    ws: Workspace, name: str, best: TrialRow, space: Space, opts: SearchOptions, continuing: bool
) -> tuple[str, dict[str, Any]]:
    """``<home>/tune/<study>.best.yaml``: the best trial's keys that differ from mentor.yaml."""
    live = flatten(config_mod.to_dict(config_mod.load(ws.config_file)))
    changed = {
        k: _round(v)
        for k, v in best.params.items()
        if k in space.params and live.get(k) != _round(v)
    }
    path = ws.tune_best(name)
    head = [
        f"# mentor tune: the best settings of study {name}: trial {best.number}, held-out "
        f"validation loss {best.value:.6g} on {opts.data.name}",
        f"# written {dt.datetime.now().isoformat(timespec='seconds')}; floats rounded to 4 "
        "significant digits; only keys that differ from mentor.yaml",
    ]
    if not changed:
        head.append("# the current settings were best: nothing to change")
    else:
        head.append(f"# apply with: mentor --home {ws.home} config apply {path}")
    later = sorted(k for k in changed if k in LINEAGE_FIXED)
    if not continuing and later and has_lineage(ws):
        head.append(
            "# searched on new lineages; the live lineage keeps its own "
            + ", ".join(later)
            + ": these take effect when a new lineage starts (after consolidation)"
        )
    body = yaml.safe_dump(nest(changed), sort_keys=False) if changed else "{}\n"
    atomic_write_text(path, "\n".join(head) + "\n" + body)
    return str(path), nest(changed)
