"""The Optuna study of a search: stored in the workspace, locked to one process, resumable.

``<home>/tune/<study>.db`` is an Optuna RDB storage on SQLite, so a search that stops resumes
with ``load_if_exists`` and ``optuna-dashboard sqlite:///<home>/tune/<study>.db`` opens it. A
flock on ``<study>.lock`` keeps one process per study; the kernel drops it when the process dies,
however it dies. Holding it, any trial still marked RUNNING belongs to a process that is gone
(SIGKILL, power cut): it is marked FAIL and the same settings are queued again, at most
``tune.max_retries`` times (a trial the OS killed for memory would otherwise loop forever).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mentor.config import TuneConfig
from mentor.errors import ConfigError, JobError
from mentor.paths import Workspace

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
DONE_STATES = ("COMPLETE", "PRUNED")  # what counts towards --trials


def default_name(data: Path, file_hash: str) -> str:
    """``<file stem>-<8 hex of its content>``: the same command on the same file resumes."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", data.stem).strip("-.") or "study"
    return f"{stem[:80]}-{file_hash[:8]}"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ConfigError(
            f"--study {name!r}: use letters, digits, '.', '_' or '-' (at most 100)",
            hint="e.g. --study easy-lr",
        )
    return name


@contextlib.contextmanager
def study_lock(ws: Workspace, name: str) -> Iterator[None]:
    """One searching process per study (flock; released by the kernel when the process ends)."""
    path = ws.tune_lock(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Path(path).read_text(encoding="utf-8").strip() or "?"
            raise JobError(
                f"study {name} is being searched by another process (pid {holder})",
                hint="wait for it to finish, or pass --study OTHER",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def storage_url(ws: Workspace, name: str) -> str:
    return f"sqlite:///{ws.tune_db(name)}"


def make_pruner(kind: str, cfg: TuneConfig) -> Any:
    import optuna

    if kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=cfg.pruner_startup_trials, n_warmup_steps=cfg.pruner_warmup_points
        )
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1,
            max_resource=cfg.report_points,
            reduction_factor=cfg.hyperband_reduction_factor,
        )
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"--pruner {kind!r}: expected median, hyperband or none")


def open_study(
    ws: Workspace, name: str, cfg: TuneConfig, *, pruner: str, seed: int
) -> tuple[Any, Any]:
    """(study, storage): created or loaded (``load_if_exists``); minimise the held-out loss with
    a seeded TPE sampler."""
    import optuna

    ws.tune.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.RDBStorage(
        storage_url(ws, name), engine_kwargs={"connect_args": {"timeout": 30}}
    )
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction="minimize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=cfg.sampler_startup_trials),
        pruner=make_pruner(pruner, cfg),
    )
    return study, storage


def count_done(study: Any) -> int:
    from optuna.trial import TrialState

    states = tuple(TrialState[s] for s in DONE_STATES)
    return len(study.get_trials(deepcopy=False, states=states))


def retry(study: Any, trial: Any, max_retries: int) -> bool:
    """Queue ``trial``'s settings again, unless they were already retried ``max_retries`` times."""
    history = [*trial.user_attrs.get("retry_history", []), trial.number]
    if len(history) > max_retries:
        return False
    study.enqueue_trial(dict(trial.params), user_attrs={"retry_history": history})
    return True


def recover(study: Any, storage: Any, max_retries: int) -> list[str]:
    """Fail the trials a dead process left RUNNING and queue their settings again.

    Call it only while holding :func:`study_lock`: then no live process owns those trials.
    """
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    notes = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        tid = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        storage.set_trial_user_attr(tid, "note", "killed mid-trial (found running on resume)")
        storage.set_trial_state_values(tid, TrialState.FAIL)
        again = retry(study, storage.get_trial(tid), max_retries)
        notes.append(
            f"trial {t.number} was killed mid-trial: marked failed, "
            + ("its settings run again" if again else f"not retried (already {max_retries} times)")
        )
    return notes
