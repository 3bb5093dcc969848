"""The daemon's child: ``python -m mentor.daemon.child --home H --mode MODE --outcome FILE``.

One process per job phase or idle task (``MODES``), started by the daemon in its own session
(Ctrl-C reaches only the daemon, which then asks the child to checkpoint and stop). A crash of
the child kills one job, never the daemon. The child dies with its parent: ``PR_SET_PDEATHSIG``
sends it SIGTERM (a checkpoint, or the cut of an evaluation) and the control readers also stop
when the parent pid changes. The result is one JSON object written atomically to
``--outcome``; no outcome file means the child crashed.

An evaluation is cut, not finished, when a pause or stop is asked for or the daemon sends
SIGTERM (a file arrived during the idle-time full suite): the engine polls :class:`Cut` after
every decode step and the outcome says ``interrupted``; the daemon runs it again later.

A multi-GPU training child is this module run as several ranks under torchrun, which sits
between the daemon and the ranks: ``--parent`` is then the agent's parent, rank 0 alone reports
status and writes the outcome (:mod:`mentor.train.distributed`).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import importlib.util
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mentor import config as config_mod
from mentor import control
from mentor.daemon.supervisor import die_with_parent
from mentor.engine.base import GenerationInterrupted, Interrupt
from mentor.errors import ConfigError, DataError, MentorError
from mentor.monitor.cpu_share import CpuShare
from mentor.monitor.status import StatusWriter
from mentor.paths import Workspace, atomic_write_json
from mentor.train import distributed

log = logging.getLogger("mentor.daemon.child")

PERMANENT = (DataError, ConfigError)  # retrying cannot help
#: what each mode calls (``module:attr`` or ``/path/file.py:attr``); tests pass stand-ins
FUNCTIONS: dict[str, str] = {
    "train": "mentor.train:train_file",
    "evaluate": "mentor.daemon.child:evaluate_version",
    "evaluate-full": "mentor.daemon.child:evaluate_full_suite",
    "consolidate": "mentor.daemon.consolidate:consolidate",
}
MODES = tuple(FUNCTIONS)


def load_fn(spec: str) -> Callable[..., Any]:
    """``module:attr`` or ``/path/file.py:attr``."""
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        mspec = importlib.util.spec_from_file_location(f"_mentor_child_{abs(hash(target))}", target)
        if mspec is None or mspec.loader is None:
            raise ConfigError(f"--fn {spec}: cannot import {target}")
        module = importlib.util.module_from_spec(mspec)
        mspec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    fn: Callable[..., Any] = getattr(module, attr)
    return fn


class Cut:
    """What cuts an evaluation: pause or stop on the control channel, the daemon gone, SIGTERM.

    Called by the engine after every decode step; ``reason`` says which one fired.
    """

    def __init__(self, ws: Workspace, parent: int, share: CpuShare | None = None) -> None:
        self.reason: str | None = None
        self.polled = False
        self.share = share
        self._read = control.training_reader(ws, parent=parent, actions=control.EVALUATION_ACTIONS)
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.reason = "SIGTERM"

    def __call__(self) -> bool:
        if not self.polled:
            self.polled = True
            log.info("generating; a pause or stop cuts the evaluation within a decode step")
        if self.reason is None:
            self.reason = self._read()
        if self.share is not None:
            self.share.rebalance()  # another process started or ended: take this one's share
        return self.reason is not None


def make_progress(
    ws: Workspace, name: str, share: CpuShare | None = None
) -> tuple[StatusWriter, Callable[..., None]]:
    """The status snapshot a training feeds through its progress callback (after every
    optimizer step, when the CPU share is also rebalanced)."""
    writer = StatusWriter(ws)
    writer.update(status="training", current_file=name, error_message=None)

    def progress(fields: dict[str, Any] | None = None, /, **kw: Any) -> None:
        data = dict(fields or {}, **kw)
        data.pop("status", None)
        writer.update(data, status="training", current_file=name)
        if share is not None:
            share.rebalance()

    return writer, progress


class EvalProgress:
    """Items done/total and ETA of an evaluation, in the status snapshot's ``evaluation``.

    The runner reports ``(task, done, total)`` per task; tasks not started yet count with
    their planned item count, so the total is known from the start. ETA: the pace so far.
    """

    def __init__(
        self, ws: Workspace, kind: str, version: str, planned: dict[str, int], name: str | None
    ) -> None:
        self.writer = StatusWriter(ws)
        self.kind, self.version, self.name = kind, version, name
        self.planned = dict(planned)
        self.parts: dict[str, tuple[int, int]] = {}
        self.t0 = time.monotonic()
        self._write(None)

    def totals(self) -> tuple[int, int]:
        done = sum(d for d, _ in self.parts.values())
        total = sum(t for _, t in self.parts.values())
        total += sum(n for task, n in self.planned.items() if task not in self.parts)
        return done, max(total, done)

    def __call__(self, task: str, done: int, total: int) -> None:
        self.parts[task] = (done, total)
        self._write(task)

    def _write(self, task: str | None) -> None:
        done, total = self.totals()
        elapsed = time.monotonic() - self.t0
        eta = elapsed / done * (total - done) if done else None
        self.writer.update(
            status="evaluating",
            evaluation={
                "kind": self.kind,
                "version": self.version,
                "task": task,
                "items_done": done,
                "items_total": total,
                "elapsed_s": round(elapsed, 1),
                "eta_s": None if eta is None else round(eta, 1),
            },
            **({"current_file": self.name} if self.name else {}),
        )

    def close(self) -> dict[str, Any]:
        self.writer.flush()
        done, total = self.totals()
        return {"items_done": done, "items_total": total, "seconds": time.monotonic() - self.t0}


def _outcome_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return dict(obj)
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def run_train(
    ws: Workspace,
    cfg: config_mod.Config,
    args: argparse.Namespace,
    fn: Callable[..., Any],
    share: CpuShare | None = None,
) -> dict[str, Any]:
    read = control.training_reader(ws, parent=args.parent)
    daemon = getattr(args, "daemon", None)
    if daemon is not None:  # a rank under torchrun: args.parent is the agent
        read = distributed.watch_daemon(read, args.parent, daemon)
    if not distributed.ranks().main:
        out = fn(ws, cfg, Path(args.path), job_id=args.job, control=read)
        return _outcome_dict(out)
    writer, progress = make_progress(ws, args.name or Path(args.path).name, share)
    try:
        out = fn(
            ws,
            cfg,
            Path(args.path),
            job_id=args.job,
            control=read,
            progress=progress,
            status=writer,
        )
    finally:
        writer.flush()
    return _outcome_dict(out)


def heldout_rows(ws: Workspace, cfg: config_mod.Config, path: Path) -> list[dict[str, Any]]:
    """The held-out rows of a file, exactly as training split them."""
    from mentor.data.validate import validate_file
    from mentor.models.loader import load_tokenizer
    from mentor.train.lineage import heldout_rows as split_heldout

    if not path.is_file():
        return []
    report = validate_file(ws, cfg, path, tokenizer=load_tokenizer(cfg.model_path(ws.home)))
    return split_heldout(report, cfg) if report.ok else []


def evaluate_version(
    ws: Workspace,
    cfg: config_mod.Config,
    *,
    path: Path,
    version: str,
    job_id: int | None,
    interrupt: Interrupt,
) -> dict[str, Any]:
    """The post-training evaluation of a version (its file's held-out rows, the quick
    benchmarks) and the gate's verdict; its items done/total and ETA go to the status."""
    from mentor.evals.auto import after_training, quick_tasks

    rows = heldout_rows(ws, cfg, path)
    planned = {"heldout": len(rows)} if rows else {}
    planned.update({t.name: len(t.items) for t in quick_tasks(cfg)})
    progress = EvalProgress(ws, "quick", version, planned, path.name)
    res = after_training(
        ws,
        cfg,
        version=version,
        heldout_rows=rows,
        job_id=job_id,
        interrupt=interrupt,
        progress=progress,
    )
    return {
        **progress.close(),
        "status": "evaluated",
        "metrics": res.metrics,
        "promote": bool(res.decision.promote),
        "reason": str(res.decision.reason),
        "heldout_rows": len(rows),
        "reports": res.reports,
    }


def evaluate_full_suite(
    ws: Workspace, cfg: config_mod.Config, *, version: str, interrupt: Interrupt
) -> dict[str, Any]:
    """The whole benchmark suite of the serving version (idle time)."""
    from mentor.evals.auto import full_suite
    from mentor.evals.tasks import benchmark_task

    planned = {}
    for b in cfg.eval.benchmarks:
        with contextlib.suppress(MentorError, ImportError):  # the suite reports it itself
            planned[b] = len(benchmark_task(b).items)
    progress = EvalProgress(ws, "full_suite", version, planned, None)
    res = full_suite(ws, cfg, version, interrupt=interrupt, progress=progress)
    return {
        **progress.close(),
        "status": "evaluated",
        "version": version,
        "metrics": dict(res.overall),
        "run_id": res.run_id,
        "report": str(res.report) if res.report else None,
    }


def run_consolidate(
    ws: Workspace, cfg: config_mod.Config, args: argparse.Namespace, fn: Callable[..., Any]
) -> dict[str, Any]:
    from mentor.store import connect

    conn = connect(ws.db)
    try:
        return {"status": "consolidated", **fn(ws, cfg, conn, reason=args.reason or "daily")}
    finally:
        conn.close()


def _run(ws: Workspace, args: argparse.Namespace) -> dict[str, Any]:
    """The mode's work; errors become a ``failed`` outcome, a cut an ``interrupted`` one."""
    share = CpuShare() if args.mode != "consolidate" else None
    cut = Cut(ws, args.parent, share) if args.mode.startswith("evaluate") else None
    try:
        if share is not None:
            share.__enter__()
        cfg = config_mod.load(ws.config_file, args.overrides)
        fn = load_fn(args.fn or FUNCTIONS[args.mode])
        if args.mode == "train":
            return run_train(ws, cfg, args, fn, share)
        if args.mode == "consolidate":
            return run_consolidate(ws, cfg, args, fn)
        assert cut is not None
        if args.mode == "evaluate":
            return dict(
                fn(
                    ws,
                    cfg,
                    path=Path(args.path),
                    version=args.version,
                    job_id=args.job,
                    interrupt=cut,
                )
            )
        return dict(fn(ws, cfg, version=args.version, interrupt=cut))
    except GenerationInterrupted:
        why = cut.reason if cut is not None else None
        log.info("evaluation cut (%s)", why)
        return {"status": "interrupted", "cut_by": why, "message": f"evaluation cut ({why})"}
    except MentorError as err:
        log.error("%s", err)
        return {
            "status": "failed",
            "message": str(err),
            "error_type": type(err).__name__,
            "permanent": isinstance(err, PERMANENT),
        }
    except Exception as err:
        log.error("%s", traceback.format_exc())
        return {
            "status": "failed",
            "message": f"{type(err).__name__}: {err}",
            "error_type": type(err).__name__,
            "permanent": False,
            # a full disk is not the job's fault: the daemon pauses instead of retrying
            "disk_full": _disk_full(err),
        }
    finally:
        if share is not None:
            share.__exit__(None, None, None)


def _disk_full(err: BaseException | None) -> bool:
    """Whether ``err`` (or an error it was raised from) is "no space left on device"."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        err = err.__cause__ or err.__context__
    return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mentor.daemon.child")
    p.add_argument("--home", required=True)
    p.add_argument("--job", type=int, default=None)
    p.add_argument("--mode", choices=MODES, default="train")
    p.add_argument("--path", default="")
    p.add_argument("--name", default=None)
    p.add_argument("--version", default=None)
    p.add_argument("--reason", default=None)
    p.add_argument("--outcome", required=True)
    p.add_argument("--parent", type=int, default=os.getppid())
    p.add_argument("--fn", default=None, help="what the mode calls (default: FUNCTIONS[mode])")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    die_with_parent()
    args.daemon = None
    if distributed.ranks().multi:  # torchrun's agent is our parent, the daemon its parent
        args.daemon, args.parent = args.parent, os.getppid()
        if distributed.parent_of(args.parent) != args.daemon:
            return 3
    if os.getppid() != args.parent:
        return 3  # the daemon died before we started
    t0 = time.time()
    result = _run(Workspace(Path(args.home)), args)
    result["seconds"] = round(time.time() - t0, 3)
    if distributed.ranks().main:
        atomic_write_json(Path(args.outcome), json.loads(json.dumps(result, default=str)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
