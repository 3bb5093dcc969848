"""``mentor demo``: the whole system on the tiny model, as a user would run it.

A workspace with the demo model (``models/tiny.py`` size ``demo``: the scaffold tokenizer over the
demo's 150 words); SYLLO training files over those words dropped into the inbox one after another
while the real daemon (``mentor daemon``, a child process) trains them as one lineage (one
optimizer, one schedule); after each file the daemon's own evaluation of the file's held-out
split, a version and the regression gate, as for any user; the dashboard (``mentor dashboard``, a
child process) while it runs. After each version the demo scores it on a fixed set of held-out
demo puzzles (new puzzles over the same words, never trained), so every version and the base are
measured on the same items. At the end: the learning curve, the base-vs-final comparison with
paired tests, the daily report, ``demo-summary.json`` and one self-contained HTML page
(:mod:`mentor.demo.summary`).

Budgets are puzzles (so optimizer steps), never seconds: the same seed repeats the same result on
a slower machine, only later. ``minutes`` is a deadline for dropping files, nothing else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor import config as config_mod
from mentor.config import Config
from mentor.control import on_sigterm
from mentor.errors import JobError, WorkspaceError
from mentor.paths import Workspace, atomic_write_text
from mentor.store import connect, jobs
from mentor.tasks.syllo import demo as settings

log = logging.getLogger(__name__)

HELDOUT_NAME = "demo_heldout"  # the fixed held-out set's task name in store/evals
DAEMON_STOP_S = 120.0  # the daemon checkpoints and exits within this on SIGTERM


@dataclass
class DemoOptions:
    """What ``mentor demo`` was asked for; the defaults are the measured demo settings."""

    workspace: Path
    seed: int = 0
    puzzles: int = settings.PUZZLES
    files: int = settings.FILES
    heldout: int = settings.HELDOUT
    model: Path | None = None  # an existing model directory instead of building the demo model
    minutes: float | None = None  # no file is dropped after this many minutes
    dashboard: bool = True
    overrides: list[str] = field(default_factory=list)  # extra --set pairs (tests: small runs)
    file_timeout_s: float = 3600.0  # one file's training + evaluation, before giving up


@dataclass
class VersionScore:
    """One model's scores on the fixed held-out set, as stored in ``store/evals``."""

    file: str | None
    version: str
    eval_id: int
    gate: str  # serving / refused / base
    metrics: dict[str, float]
    intervals: dict[str, list[float]]
    p_value: dict[str, float | None]
    step: int | None = None
    seconds: float = 0.0


@dataclass
class DemoRun:
    ws: Workspace
    cfg: Config
    options: DemoOptions
    heldout: Path
    files: list[Path]
    scores: list[VersionScore] = field(default_factory=list)
    dashboard_url: str | None = None
    cut_by_deadline: bool = False
    started: float = field(default_factory=time.time)
    train_seconds: float = 0.0


# ---------------------------------------------------------------------------- workspace and data
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_overrides(opts: DemoOptions, port: int) -> list[str]:
    """The workspace's config: the demo's training settings, the daemon tuned for a demo (no
    suite benchmarks: the 150-word model knows no other words), the seed, the schedule horizon."""
    return [
        *settings.CONFIG,
        *settings.DAEMON_CONFIG,
        f"training.seed={opts.seed}",
        f"training.horizon_tokens={opts.puzzles * settings.TOKENS_PER_PUZZLE}",
        f"serve.port={port}",
        *opts.overrides,
    ]


def prepare(opts: DemoOptions, say: Callable[[str], None]) -> DemoRun:
    """A new workspace with the demo model and config, and the demo's data files (not yet in
    the inbox)."""
    from mentor.workspace import init_workspace

    home = opts.workspace.expanduser().resolve()
    if Workspace(home).exists():
        raise WorkspaceError(
            f"{home}: a workspace already exists here",
            hint="the demo starts from nothing: give --keep a new folder, or remove this one",
        )
    home.mkdir(parents=True, exist_ok=True)
    if opts.model is None:
        from mentor.models.tiny import build_tiny

        model = build_tiny(home / "models" / "demo", size=settings.MODEL_SIZE, seed=opts.seed)
        say(f"built the demo model ({settings.MODEL_SIZE}, seed {opts.seed}) in {model}")
    else:
        model = opts.model.expanduser().resolve()
    ws = init_workspace(home, model=str(model), seed=opts.seed)
    data = ws.data / "demo"
    data.mkdir(parents=True, exist_ok=True)
    per_file = max(1, opts.puzzles // opts.files)
    files = []
    first_rows: list[dict[str, Any]] = []
    for k in range(opts.files):
        f = data / f"syllo_demo_{k + 1:02d}.jsonl"
        rows = training_rows(opts.seed, k, per_file)
        first_rows = first_rows or rows
        write_rows(f, rows)
        files.append(f)
    heldout = data / f"{HELDOUT_NAME}.jsonl"
    rows = heldout_rows(opts.seed, opts.heldout)
    write_rows(heldout, rows)
    say(
        f"data: {opts.files} files x {per_file} puzzles over {settings.WORDS} words, "
        f"{opts.heldout} held-out puzzles"
    )
    cap = f"eval.max_new_tokens={answer_cap(model, [*rows, *first_rows])}"
    cfg = config_mod.load(ws.config_file, [cap, *demo_overrides(opts, free_port())])
    atomic_write_text(ws.config_file, config_mod.commented_yaml(cfg))
    return DemoRun(ws, cfg, opts, heldout, files)


def training_rows(seed: int, file_index: int, n: int) -> list[dict[str, Any]]:
    """Training file ``file_index`` of demo seed ``seed``: ``n`` puzzles over the demo words."""
    from mentor.tasks.syllo.generate import generate

    seed_k = settings.train_seed(seed, file_index)
    return generate(n, seed_k, tier=settings.TIER, vocab_size=settings.WORDS)


def heldout_rows(seed: int, n: int) -> list[dict[str, Any]]:
    """The held-out puzzles of demo seed ``seed``: new puzzles over the same words."""
    from mentor.tasks.syllo.generate import generate

    return generate(
        n,
        settings.heldout_seed(seed),
        tier=settings.TIER,
        vocab_size=settings.WORDS,
        split="heldout",
    )


def answer_cap(model: Path, rows: list[dict[str, Any]]) -> int:
    """A new-token cap that fits every demo answer with margin (``size_max_new_tokens``: +25%,
    +32). Without it a SYLLO evaluation sizes its cap to the hard tier's longest answer (512
    tokens here), and the untrained model, which never stops, generates all of them: the base
    evaluations (the demo's and the daemon's baseline of each file) cost 3x more for nothing."""
    from mentor.evals.tasks import size_max_new_tokens
    from mentor.models.loader import load_tokenizer

    goldens = [m["content"] for r in rows for m in r["messages"] if m["role"] == "assistant"]
    return size_max_new_tokens(load_tokenizer(model), goldens)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def drop(ws: Workspace, src: Path) -> None:
    """Into the inbox the way a careful user copies: a hidden part file, then one rename."""
    part = ws.inbox / f".{src.name}.part"
    part.write_bytes(src.read_bytes())
    os.replace(part, ws.inbox / src.name)


# ---------------------------------------------------------------------------- child processes
def mentor_cmd(ws: Workspace, *args: str) -> list[str]:
    return [sys.executable, "-m", "mentor", "--home", str(ws.home), *args]


@contextlib.contextmanager
def child(cmd: list[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process with its output in ``log_path``; SIGTERM (then SIGKILL) on the way out."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(DAEMON_STOP_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def wait_for_job(
    run: DemoRun,
    name: str,
    daemon: subprocess.Popen[bytes],
    tick: Callable[[jobs.Job | None], None],
) -> jobs.Job:
    """Poll ``state.db`` until the daemon has finished the job of inbox file ``name``."""
    deadline = time.time() + run.options.file_timeout_s
    daemon_log = run.ws.logs / "demo-daemon.log"
    while True:
        if daemon.poll() is not None:
            raise JobError(
                f"the daemon exited with code {daemon.returncode} while training {name}",
                hint=f"see {daemon_log}",
            )
        conn = connect(run.ws.db)
        try:
            found = [j for j in jobs.listing(conn) if j.name == name]
        finally:
            conn.close()
        job = found[0] if found else None
        tick(job)
        if job is not None and job.state in jobs.FINAL:
            if job.state != "done" or not job.version:
                raise JobError(
                    f"{name}: the daemon's job ended {job.state}: {job.error or 'no version'}",
                    hint=f"see {daemon_log} and `mentor --home {run.ws.home} status`",
                )
            return job
        if time.time() > deadline:
            raise JobError(
                f"{name}: not finished after {run.options.file_timeout_s:.0f} s",
                hint=f"see {daemon_log}",
            )
        time.sleep(0.5)


# ---------------------------------------------------------------------------- scores
def score(run: DemoRun, ref: str, *, file: str | None, gate: str) -> VersionScore:
    """``ref`` on the fixed held-out set through the evaluation runner (stored in
    ``store/evals``, paired against the base)."""
    from mentor.evals.runner import evaluate

    t0 = time.time()
    res = evaluate(run.ws, run.cfg, ref, data=run.heldout, report=False)
    b = res.benchmarks[HELDOUT_NAME]
    step = None
    if res.version:
        from mentor.models.refs import version_dir

        manifest = version_dir(run.ws, res.version) / "manifest.json"
        with contextlib.suppress(OSError, ValueError):
            step = json.loads(manifest.read_text(encoding="utf-8")).get("steps")
    return VersionScore(
        file=file,
        version=res.version or ref,
        eval_id=int(b.eval_id or 0),
        gate=gate,
        metrics={m: float(b.overall[m]) for m in settings.METRICS if m in b.overall},
        intervals={m: list(b.intervals[m]) for m in settings.METRICS if m in b.intervals},
        p_value={m: (b.tests[m].p_value if m in b.tests else None) for m in settings.METRICS},
        step=int(step) if isinstance(step, (int, float)) else None,
        seconds=round(time.time() - t0, 1),
    )


def gate_status(ws: Workspace, version: str) -> str:
    from mentor.store import versions

    conn = connect(ws.db)
    try:
        return versions.resolve(conn, version).status
    finally:
        conn.close()


# ---------------------------------------------------------------------------- the run
def _exit_on_sigterm() -> contextlib.AbstractContextManager[None]:
    """SIGTERM unwinds like Ctrl-C, so the daemon and the dashboard are stopped on the way out
    (the daemon checkpoints) instead of being left running without the demo."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    return on_sigterm(handler)


def _ticker(
    tick: Callable[[str, jobs.Job | None], None] | None, name: str
) -> Callable[[jobs.Job | None], None]:
    def one(job: jobs.Job | None) -> None:
        if tick is not None:
            tick(name, job)

    return one


def run_demo(
    opts: DemoOptions,
    *,
    say: Callable[[str], None] = print,
    on_score: Callable[[VersionScore], None] | None = None,
    tick: Callable[[str, jobs.Job | None], None] | None = None,
) -> DemoRun:
    """Prepare, train file after file through the daemon, score every version; then the
    analyses (:func:`mentor.demo.summary.finish`). Returns the run with its scores."""
    from mentor.demo.summary import finish

    run = prepare(opts, say)
    ws = run.ws
    deadline = time.time() + opts.minutes * 60 if opts.minutes else None
    with contextlib.ExitStack() as stack:
        stack.enter_context(_exit_on_sigterm())
        daemon = stack.enter_context(child(mentor_cmd(ws, "daemon"), ws.logs / "demo-daemon.log"))
        if opts.dashboard:
            port = run.cfg.serve.port
            stack.enter_context(
                child(
                    mentor_cmd(ws, "dashboard", "--port", str(port)),
                    ws.logs / "demo-dashboard.log",
                )
            )
            run.dashboard_url = f"http://127.0.0.1:{port}/dashboard/"
            say(f"dashboard: {run.dashboard_url} (while the demo runs)")
        say(f"daemon: pid {daemon.pid}, log {ws.logs / 'demo-daemon.log'}")
        base = score(run, "base", file=None, gate="base")
        run.scores.append(base)
        if on_score:
            on_score(base)
        for f in run.files:
            if deadline is not None and time.time() > deadline:
                run.cut_by_deadline = True
                say(f"--minutes {opts.minutes:g} reached: {f.name} and later files not dropped")
                break
            t0 = time.time()
            drop(ws, f)
            job = wait_for_job(run, f.name, daemon, _ticker(tick, f.name))
            run.train_seconds += time.time() - t0
            version = str(job.version)
            s = score(run, version, file=f.name, gate=gate_status(ws, version))
            run.scores.append(s)
            if on_score:
                on_score(s)
    finish(run, say)
    return run
