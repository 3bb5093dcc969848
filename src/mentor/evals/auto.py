"""Automated testing after each trained file (called by the daemon) and the idle-time full suite.

``after_training``: the file's held-out split (SYLLO rows -> the SYLLO scorer; other chat data ->
exact match + perplexity) and a quick benchmark subset (``eval.quick_per_tier`` puzzles of each
tier, the same seeded subset every time) -> the version's metrics -> the regression gate against
the serving version (``kv`` key ``serving_version``) -> events ``eval.finished`` and
``gate.promoted`` / ``gate.refused``. Promotion itself (kv, versions table, hot reload) is the
daemon's: it acts on ``AutoEvalResult.decision``.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from mentor.config import Config
from mentor.engine.base import Interrupt
from mentor.errors import MentorError, NotFoundError
from mentor.evals import forgetting
from mentor.evals.gate import GateDecision, ScoreSet, gate
from mentor.evals.results import EvalResult
from mentor.evals.runner import Progress, eval_engine, evaluate
from mentor.evals.tasks import Task, benchmark_task, data_task, subset
from mentor.models.refs import resolve_model
from mentor.paths import Workspace
from mentor.store import connect, kv, versions
from mentor.store import evals as store
from mentor.store.events import emit
from mentor.store.kv import Key

log = logging.getLogger(__name__)

QUICK_SEED = 0


@dataclass
class AutoEvalResult:
    version: str
    heldout: EvalResult | None
    quick: EvalResult | None
    metrics: dict[str, float]
    decision: GateDecision
    serving_version: str | None = None
    reports: list[str] = field(default_factory=list)


def quick_tasks(cfg: Config) -> list[Task]:
    """``eval.quick_per_tier`` items per tier of each benchmark (fixed seeded subset)."""
    if cfg.eval.quick_per_tier <= 0:
        return []
    tasks = []
    for name in cfg.eval.benchmarks:
        try:
            tasks.append(subset(benchmark_task(name), cfg.eval.quick_per_tier, QUICK_SEED))
        except (MentorError, ImportError) as err:
            log.warning("quick benchmark %s skipped: %s", name, err)
    return tasks


def _stored_scores(
    ws: Workspace,
    cfg: Config,
    version: str,
    tasks: list[Task],
    interrupt: Interrupt | None = None,
) -> ScoreSet | None:
    """The serving version's per-item scores on ``tasks`` (evaluated now if not stored)."""
    conn = connect(ws.db)
    scores: dict[str, dict[str, float]] = {}
    missing: list[Task] = []
    try:
        spec = resolve_model(ws, cfg, version)
        for t in tasks:
            want = {i.id for i in t.items}
            got: dict[str, store.ItemRow] = {}
            for row in store.recent(
                conn, benchmark=t.name, bench_version=t.version, model_hash=spec.hash
            ):
                for iid, it in store.items(conn, row.id).items():
                    if iid in want and iid not in got:
                        got[iid] = it
            if want - set(got):
                missing.append(t)
            else:
                scores.update({f"{t.name}/{iid}": it.scores for iid, it in got.items()})
    finally:
        conn.close()
    if missing:
        res = evaluate(ws, cfg, version, tasks=missing, report=False, interrupt=interrupt)
        for b in res.benchmarks.values():
            scores.update({f"{b.name}/{iid}": it.scores for iid, it in b.items.items()})
    return ScoreSet(scores)


def _flat(prefix: str, res: EvalResult | None) -> dict[str, float]:
    if res is None:
        return {}
    out = {f"{prefix}.{k}": v for k, v in res.overall.items()}
    out.update({f"{prefix}.delta.{k}": v for k, v in res.baseline_delta.items()})
    return out


def after_training(
    ws: Workspace,
    cfg: Config,
    *,
    version: str,
    heldout_rows: list[dict[str, Any]],
    job_id: int | None = None,
    backend: str = "hf",
    interrupt: Interrupt | None = None,
    progress: Progress | None = None,
) -> AutoEvalResult:
    """``interrupt`` (the daemon's pause/stop) cuts any generation: GenerationInterrupted.
    ``progress`` gets ``(task, items done, items total)`` (the daemon shows it in status)."""
    spec = resolve_model(ws, cfg, version)
    engine = eval_engine(spec.base, spec.adapter, cfg, backend)
    heldout = None
    if heldout_rows:
        heldout = evaluate(
            ws,
            cfg,
            version,
            data=heldout_rows,
            name="heldout",
            engine=engine,
            interrupt=interrupt,
            progress=progress,
        )
    qtasks = quick_tasks(cfg)
    quick = (
        evaluate(
            ws, cfg, version, tasks=qtasks, engine=engine, interrupt=interrupt, progress=progress
        )
        if qtasks
        else None
    )
    metrics = {**_flat("heldout", heldout), **_flat("quick", quick)}

    conn = connect(ws.db)
    try:
        serving = kv.get(conn, Key.SERVING_VERSION)
    finally:
        conn.close()
    gate_on, gate_tasks = quick, qtasks
    if gate_on is None and heldout is not None:
        gate_on, gate_tasks = heldout, [data_task(heldout_rows, "heldout")]
    if gate_on is None:
        decision = GateDecision(True, "nothing to evaluate: no held-out rows and no benchmarks")
    elif serving is None or serving == version:
        decision = gate(gate_on, None, cfg.eval)
    else:
        decision = gate(gate_on, _stored_scores(ws, cfg, serving, gate_tasks, interrupt), cfg.eval)
    decision = forgetting.after_version(
        ws, cfg, version=spec.version or version, engine=engine,
        weights=spec.adapter or (None if spec.is_base else spec.base),
        decision=decision, job_id=job_id, interrupt=interrupt,
    )  # fmt: skip

    conn = connect(ws.db)
    try:
        emit(
            conn,
            "eval.finished",
            f"{version}: "
            + ", ".join(f"{k}={v:.3f}" for k, v in metrics.items() if "delta" not in k),
            job_id=job_id,
            version=version,
            kind_of="after_training",
            metrics=metrics,
            runs=[r.run_id for r in (heldout, quick) if r is not None],
        )
        emit(
            conn,
            "gate.promoted" if decision.promote else "gate.refused",
            f"{version}: {decision.reason}",
            level="info" if decision.promote else "warning",
            job_id=job_id,
            version=version,
            serving=serving,
            **decision.to_dict(),
        )
        with contextlib.suppress(NotFoundError):  # an evaluated PATH is no version
            versions.set_metrics(conn, version, metrics)
    finally:
        conn.close()
    return AutoEvalResult(
        version,
        heldout,
        quick,
        metrics,
        decision,
        serving,
        [str(r.report) for r in (heldout, quick) if r is not None and r.report],
    )


def full_suite(
    ws: Workspace,
    cfg: Config,
    version: str,
    *,
    backend: str = "hf",
    interrupt: Interrupt | None = None,
    progress: Progress | None = None,
) -> EvalResult:
    """The whole ``eval.benchmarks`` suite for a version (the daemon runs it when idle and cuts
    it through ``interrupt`` when a file arrives or a pause is asked for)."""
    res = evaluate(
        ws,
        cfg,
        version,
        benchmarks=list(cfg.eval.benchmarks),
        backend=backend,
        interrupt=interrupt,
        progress=progress,
    )
    conn = connect(ws.db)
    try:
        emit(
            conn,
            "eval.finished",
            f"{version}: full suite, " + ", ".join(f"{k}={v:.3f}" for k, v in res.overall.items()),
            version=version,
            kind_of="full_suite",
            metrics=res.overall,
            runs=[res.run_id],
        )
    finally:
        conn.close()
    return res
