"""Run evaluations: model reference -> engine -> tasks -> scores -> state.db + JSONL -> report.

``evaluate(ws, cfg, "current", benchmarks=[...])`` is the one entry point (CLI, daemon, idle-time
full suite). Every item's output and scores are stored (``evals``/``eval_items`` and
``evals/<eval_id>/items.jsonl``), so any two evaluations pair by item id. The untrained baseline
comes from :mod:`mentor.evals.baseline` (evaluated once, extended with new items); results and
their paired tests against it are built by :mod:`mentor.evals.results`.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from mentor.config import Config
from mentor.engine import BASE_ADAPTER, Engine, GenRequest, build_engine
from mentor.engine.base import Interrupt
from mentor.errors import ConfigError
from mentor.evals import evaluators as ev
from mentor.evals.baseline import BaselineCache
from mentor.evals.results import (
    BenchResult,
    EvalResult,
    TaskRun,
    bench_result,
    combine,
    metrics_record,
    write_items,
)
from mentor.evals.tasks import Item, Task, benchmark_task, data_task, file_task, task_max_new_tokens
from mentor.models.refs import ModelSpec, model_dir_hash, resolve_model
from mentor.paths import Workspace
from mentor.store import connect
from mentor.store import evals as store

#: (task name, items done, items total)
Progress = Callable[[str, int, int], None]
#: Scoring passes (perplexity) hold the logits of every token of the whole conversation, not one
#: step's: they run at this fraction of the generation batch (``eval.batch_size``).
SCORING_BATCH_SHARE = 4


def run_task(
    engine: Engine,
    task: Task,
    items: list[Item],
    *,
    cfg: Config,
    adapter: str | None = None,
    progress: Progress | None = None,
    interrupt: Interrupt | None = None,
) -> TaskRun:
    """Generate (batched, one template) and score ``items`` of ``task`` under ``adapter``."""
    evaluators = [ev.get(n) for n in task.evaluators]
    generative = [e for e in evaluators if e.generative]
    direct = [e for e in evaluators if not e.generative]
    max_new = task.max_new_tokens or task_max_new_tokens(
        engine.tokenizer, task, cfg.eval.max_new_tokens
    )
    done, total = 0, len(items) * (int(bool(generative)) + len(direct))

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(task.name, done, total)

    scores: list[dict[str, float]] = [{} for _ in items]
    outputs = [""] * len(items)
    new_tokens, seconds = 0, 0.0
    if generative and items:
        reqs = [
            GenRequest(
                engine.renderer.prompt(it.prompt_messages), max_new_tokens=max_new, adapter=adapter
            )
            for it in items
        ]
        t0 = time.perf_counter()
        results = engine.generate(
            reqs, batch_size=cfg.eval.batch_size, progress=tick, interrupt=interrupt
        )
        seconds = time.perf_counter() - t0
        new_tokens = sum(r.new_tokens for r in results)
        for i, (it, res) in enumerate(zip(items, results, strict=True)):
            outputs[i] = res.text
            scores[i]["_new_tokens"] = float(res.new_tokens)
            scores[i]["_cut"] = float(res.finish_reason == "length")
            for e in generative:
                scores[i].update(e.score(it, res.text))
    batch = max(1, cfg.eval.batch_size // SCORING_BATCH_SHARE)
    for e in direct if items else []:
        computed = e.compute(engine, items, adapter=adapter, batch_size=batch, progress=tick)
        for s, c in zip(scores, computed, strict=True):
            s.update(c)
    rows = [
        store.ItemRow(it.id, it.tier, out, s)
        for it, out, s in zip(items, outputs, scores, strict=True)
    ]
    return TaskRun(rows, new_tokens, seconds, max_new)


def _tasks(
    cfg: Config,
    benchmarks: list[str] | None,
    data: Path | list[dict[str, Any]] | None,
    name: str | None,
) -> list[Task]:
    if data is not None and benchmarks:
        raise ConfigError("give benchmarks or data, not both")
    if data is not None:
        if isinstance(data, list):
            return [data_task(data, name or "data")]
        return [file_task(Path(data))]
    return [benchmark_task(b) for b in (benchmarks or cfg.eval.benchmarks)]


def eval_engine(base: Path, adapter: Path | None, cfg: Config, backend: str = "hf") -> Engine:
    """The engine evaluations generate with (``eval.continuous_batching`` applies to ``hf``)."""
    options = {"continuous": cfg.eval.continuous_batching} if backend == "hf" else {}
    return build_engine(base, adapter=adapter, cfg=cfg, backend=backend, **options)


class _Evaluation:
    """One call of :func:`evaluate`: its model, engine, database connection and baseline."""

    def __init__(
        self,
        ws: Workspace,
        cfg: Config,
        spec: ModelSpec,
        engine: Engine,
        conn: sqlite3.Connection,
        *,
        backend: str,
        progress: Progress | None,
        interrupt: Interrupt | None,
        baseline: bool,
    ) -> None:
        self.ws, self.cfg, self.spec, self.engine, self.conn = ws, cfg, spec, engine, conn
        self.backend, self.progress, self.interrupt = backend, progress, interrupt
        self.run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
        self.cache = BaselineCache(ws, conn, spec, self.run_id) if baseline else None
        self._base_engine: Engine | None = None

    def run(self, engine: Engine, task: Task, items: list[Item], adapter: str | None) -> TaskRun:
        return run_task(
            engine,
            task,
            items,
            cfg=self.cfg,
            adapter=adapter,
            progress=self.progress,
            interrupt=self.interrupt,
        )

    def base_engine(self) -> tuple[Engine, str | None]:
        """The untrained base: this engine with adapters off when the model sits on the
        workspace's base weights (every engine serves ``BASE_ADAPTER``), else a second one."""
        if model_dir_hash(self.spec.base) == self.spec.baseline_hash:
            return self.engine, BASE_ADAPTER
        if self._base_engine is None:
            base = self.cfg.model_path(self.ws.home)
            self._base_engine = eval_engine(base, None, self.cfg, self.backend)
        return self._base_engine, None

    def task(self, task: Task, limit: int | None) -> BenchResult:
        items = task.items[:limit] if limit else list(task.items)
        goldens = {i.id: i.golden or "" for i in items}
        if self.spec.is_base and self.cache is not None:
            # the untrained baseline itself: cached items are reused, only new ones generated
            run = self.run(self.engine, task, self.cache.missing(task, items), None)
            base = self.cache.extend(task, run, goldens)
            rows = [base.items[i.id] for i in items]
            res = bench_result(task, base.eval_id, rows, run, goldens)
            res.baseline_eval_id = base.eval_id
            return res
        run = self.run(self.engine, task, items, None)
        eval_id = store.insert_eval(
            self.conn,
            model_ref=self.spec.ref,
            model_hash=self.spec.hash,
            version=self.spec.version,
            benchmark=task.name,
            bench_version=task.version,
            metrics=metrics_record(run.rows, run, task, self.run_id),
            items=run.rows,
        )
        store.set_path(self.conn, eval_id, str(write_items(self.ws, eval_id, run.rows, goldens)))
        baseline = None
        if self.cache is not None:

            def run_base(todo: list[Item]) -> TaskRun:
                engine, adapter = self.base_engine()
                return self.run(engine, task, todo, adapter)

            baseline = self.cache.ensure(task, items, goldens, run_base)
        return bench_result(task, eval_id, run.rows, run, goldens, baseline)


def evaluate(
    ws: Workspace,
    cfg: Config,
    model_ref: str = "current",
    *,
    benchmarks: list[str] | None = None,
    data: Path | list[dict[str, Any]] | None = None,
    limit: int | None = None,
    tasks: list[Task] | None = None,
    name: str | None = None,
    backend: str = "hf",
    engine: Engine | None = None,
    progress: Progress | None = None,
    interrupt: Interrupt | None = None,
    baseline: bool = True,
    report: bool = True,
) -> EvalResult:
    """Evaluate a model on benchmarks (default ``eval.benchmarks``) or on a data file / rows.

    ``limit`` keeps the first N items of each task. ``backend`` names an engine backend;
    ``engine`` reuses a loaded one built for ``model_ref``. ``baseline=False`` skips the
    comparison with the untrained base model. ``interrupt`` reaches every generation
    (:class:`~mentor.engine.base.GenerationInterrupted`).
    """
    spec = resolve_model(ws, cfg, model_ref)
    todo = tasks if tasks is not None else _tasks(cfg, benchmarks, data, name)
    if engine is None:
        engine = eval_engine(spec.base, spec.adapter, cfg, backend)
    with closing(connect(ws.db)) as conn:
        ev_run = _Evaluation(
            ws,
            cfg,
            spec,
            engine,
            conn,
            backend=backend,
            progress=progress,
            interrupt=interrupt,
            baseline=baseline,
        )
        results = {task.name: ev_run.task(task, limit) for task in todo}
    result = combine(ev_run.run_id, spec, results)
    if report:
        from mentor.evals.report import write_report

        result.report = write_report(ws, result)
    return result
