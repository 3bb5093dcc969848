"""The training child: ``python -m mentor.daemon.child --home H --job N --mode train|evaluate|consolidate``.

One process per job phase, started by the daemon in its own session (Ctrl-C reaches only the
daemon, which then asks the child to checkpoint and stop). A crash of the child kills one job,
never the daemon. The child dies with its parent: ``PR_SET_PDEATHSIG`` sends it SIGTERM (a
checkpoint) and the control function also stops when the parent pid changes. The result is one
JSON object written atomically to ``--outcome``; no outcome file means the child crashed.
"""

from __future__ import annotations

import argparse
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
from mentor.errors import ConfigError, DataError, MentorError
from mentor.monitor.status import StatusWriter
from mentor.paths import Workspace, atomic_write_json

log = logging.getLogger("mentor.daemon.child")

PERMANENT = (DataError, ConfigError)  # retrying cannot help


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def load_fn(spec: str) -> Callable[..., Any]:
    """``module:attr`` or ``/path/file.py:attr``."""
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        mspec = importlib.util.spec_from_file_location(f"_mentor_child_{abs(hash(target))}", target)
        if mspec is None or mspec.loader is None:
            raise ConfigError(f"--train-fn {spec}: cannot import {target}")
        module = importlib.util.module_from_spec(mspec)
        mspec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    fn: Callable[..., Any] = getattr(module, attr)
    return fn


def make_progress(ws: Workspace, name: str) -> tuple[StatusWriter, Callable[..., None]]:
    writer = StatusWriter(ws)
    writer.update(status="training", current_file=name, error_message=None)

    def progress(fields: dict[str, Any] | None = None, /, **kw: Any) -> None:
        data = dict(fields or {}, **kw)
        data.pop("status", None)
        writer.update(data, status="training", current_file=name)

    return writer, progress


def _outcome_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return dict(obj)
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def run_train(ws: Workspace, cfg: config_mod.Config, args: argparse.Namespace) -> dict[str, Any]:
    train_fn = load_fn(args.train_fn)
    writer, progress = make_progress(ws, args.name or Path(args.path).name)
    try:
        out = train_fn(
            ws,
            cfg,
            Path(args.path),
            job_id=args.job,
            control=control.training_reader(ws, parent=args.parent),
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


def run_evaluate(ws: Workspace, cfg: config_mod.Config, args: argparse.Namespace) -> dict[str, Any]:
    from mentor.evals.auto import after_training

    rows = heldout_rows(ws, cfg, Path(args.path))
    res = after_training(ws, cfg, version=args.version, heldout_rows=rows, job_id=args.job)
    return {
        "status": "evaluated",
        "metrics": res.metrics,
        "promote": bool(res.decision.promote),
        "reason": str(res.decision.reason),
        "heldout_rows": len(rows),
        "reports": res.reports,
    }


def run_consolidate(
    ws: Workspace, cfg: config_mod.Config, args: argparse.Namespace
) -> dict[str, Any]:
    from mentor.daemon.consolidate import consolidate
    from mentor.store import connect

    conn = connect(ws.db)
    try:
        return {
            "status": "consolidated",
            **consolidate(ws, cfg, conn, reason=args.reason or "daily"),
        }
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mentor.daemon.child")
    p.add_argument("--home", required=True)
    p.add_argument("--job", type=int, default=None)
    p.add_argument("--mode", choices=("train", "evaluate", "consolidate"), default="train")
    p.add_argument("--path", default="")
    p.add_argument("--name", default=None)
    p.add_argument("--version", default=None)
    p.add_argument("--reason", default=None)
    p.add_argument("--outcome", required=True)
    p.add_argument("--parent", type=int, default=os.getppid())
    p.add_argument("--train-fn", default="mentor.train:train_file")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    _die_with_parent()
    if os.getppid() != args.parent:
        return 3  # the daemon died before we started
    ws = Workspace(Path(args.home))
    t0 = time.time()
    try:
        cfg = config_mod.load(ws.config_file, args.overrides)
        if args.mode == "train":
            result = run_train(ws, cfg, args)
        elif args.mode == "evaluate":
            result = run_evaluate(ws, cfg, args)
        else:
            result = run_consolidate(ws, cfg, args)
    except MentorError as err:
        log.error("%s", err)
        result = {
            "status": "failed",
            "message": str(err),
            "error_type": type(err).__name__,
            "permanent": isinstance(err, PERMANENT),
        }
    except Exception as err:
        log.error("%s", traceback.format_exc())
        result = {
            "status": "failed",
            "message": f"{type(err).__name__}: {err}",
            "error_type": type(err).__name__,
            "permanent": False,
        }
    result["seconds"] = round(time.time() - t0, 3)
    atomic_write_json(Path(args.outcome), json.loads(json.dumps(result, default=str)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
