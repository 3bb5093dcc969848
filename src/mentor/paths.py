"""The one module that knows the workspace layout (DESIGN.md, "Workspace").

Everything else asks a :class:`Workspace` for paths; no other module joins workspace path
strings by hand.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from mentor.errors import WorkspaceError

CONFIG_NAME = "mentor.yaml"
HOME_ENV = "MENTOR_HOME"


@dataclass(frozen=True)
class RunFolder:
    """The files of one run folder ``runs/<id>/``: the names every writer and reader shares.

    ``config.yaml`` (the resolved config), ``meta.json`` (what was trained, on what, by whom),
    ``metrics.jsonl`` (one record per logged optimizer step), ``previews.jsonl`` (live previews),
    ``evolution/step_<N>.json`` (preview snapshots at log-spaced steps), ``summary.json`` (the
    outcome), ``trainer/`` (the Trainer's output: checkpoints on their way to ``model/current``,
    tracker logs).
    """

    path: Path

    CONFIG = "config.yaml"
    META = "meta.json"
    METRICS = "metrics.jsonl"
    PREVIEWS = "previews.jsonl"
    SUMMARY = "summary.json"
    EVOLUTION = "evolution"
    TRAINER = "trainer"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def meta(self) -> Path:
        return self.path / self.META

    @property
    def metrics(self) -> Path:
        return self.path / self.METRICS

    @property
    def previews(self) -> Path:
        return self.path / self.PREVIEWS

    @property
    def summary(self) -> Path:
        return self.path / self.SUMMARY

    @property
    def evolution(self) -> Path:
        return self.path / self.EVOLUTION

    @property
    def trainer(self) -> Path:
        return self.path / self.TRAINER

    def evolution_file(self, step: int) -> Path:
        return self.evolution / f"step_{step}.json"


@dataclass(frozen=True)
class Workspace:
    """A mentor home directory."""

    home: Path

    @property
    def config_file(self) -> Path:
        return self.home / CONFIG_NAME

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def done(self) -> Path:
        return self.data / "done"

    @property
    def failed(self) -> Path:
        return self.data / "failed"

    @property
    def quarantine(self) -> Path:
        return self.data / "quarantine"

    @property
    def cache(self) -> Path:
        return self.data / "cache"

    @property
    def models(self) -> Path:
        return self.home / "models"

    @property
    def current(self) -> Path:
        """The live lineage: adapter + trainer state in the HF checkpoint layout."""
        return self.home / "model" / "current"

    @property
    def versions(self) -> Path:
        return self.home / "versions"

    def version_dir(self, name: str) -> Path:
        return self.versions / name

    @property
    def backups(self) -> Path:
        return self.home / "backups"

    @property
    def runs(self) -> Path:
        return self.home / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def run_folder(self, run_id: str) -> RunFolder:
        return RunFolder(self.run_dir(run_id))

    @property
    def evals(self) -> Path:
        return self.home / "evals"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def daily_reports(self) -> Path:
        return self.reports / "daily"

    @property
    def tune(self) -> Path:
        """Hyperparameter searches (``mentor tune``): one study per name, created on demand."""
        return self.home / "tune"

    def tune_db(self, study: str) -> Path:
        """The study's Optuna storage (SQLite): resumable, and what optuna-dashboard opens."""
        return self.tune / f"{study}.db"

    def tune_lock(self, study: str) -> Path:
        """Held (flock) by the one process searching the study."""
        return self.tune / f"{study}.lock"

    def tune_best(self, study: str) -> Path:
        """The best trial's settings as a config patch for ``mentor config apply``."""
        return self.tune / f"{study}.best.yaml"

    def tune_trial(self, study: str, number: int) -> Path:
        """A trial's scratch workspace: a copy of the lineage, its own state.db and runs/."""
        return self.tune / study / f"trial-{number:04d}"

    @property
    def status_dir(self) -> Path:
        return self.home / "status"

    @property
    def serve_metrics_file(self) -> Path:
        """The API server's periodic snapshot of its own metrics (latency, throughput)."""
        return self.status_dir / "serve_metrics.json"

    @property
    def status_file(self) -> Path:
        return self.status_dir / "training_status.json"

    @property
    def control_file(self) -> Path:
        """Where the CLI leaves pause/resume/skip/stop requests for the training process."""
        return self.status_dir / "control.json"

    @property
    def lineage_state(self) -> Path:
        """The lineage's position and counters, saved with every checkpoint (``train.lineage``)."""
        return self.current / "mentor_state.json"

    @property
    def db(self) -> Path:
        return self.home / "state.db"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def pid_file(self) -> Path:
        return self.home / "daemon.pid"

    def layout(self) -> list[Path]:
        """Every directory ``mentor init`` creates."""
        return [
            self.inbox,
            self.done,
            self.failed,
            self.quarantine,
            self.cache,
            self.models,
            self.current,
            self.versions,
            self.backups,
            self.runs,
            self.evals,
            self.reports,
            self.status_dir,
            self.logs,
        ]

    def exists(self) -> bool:
        return self.config_file.is_file()

    def require(self) -> Workspace:
        if not self.exists():
            raise WorkspaceError(
                f"{self.home}: not a mentor workspace (no {CONFIG_NAME})",
                hint=f"create one with `mentor init {self.home}`",
            )
        return self


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Workspace:
    """--home, else $MENTOR_HOME, else the current directory when it holds mentor.yaml."""
    if explicit:
        return Workspace(Path(explicit).expanduser().resolve()).require()
    env = os.environ.get(HOME_ENV)
    if env:
        return Workspace(Path(env).expanduser().resolve()).require()
    cwd = Path.cwd()
    if (cwd / CONFIG_NAME).is_file():
        return Workspace(cwd.resolve())
    raise WorkspaceError(
        f"no workspace: {cwd} holds no {CONFIG_NAME} and neither --home nor ${HOME_ENV} is set",
        hint="create one with `mentor init DIR --model tiny`, then pass --home DIR",
    )


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so readers see the old or the new content, never half of it.

    Each call writes its own temporary file (unique per call, not per process), so threads or
    processes writing the same file at once never rename each other's half-written copy.
    """
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


def atomic_write_json(path: Path, obj: object) -> None:
    import json

    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
