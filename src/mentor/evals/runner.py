"""Run evaluations: model reference -> engine -> tasks -> scores -> state.db + JSONL -> report.

``evaluate(ws, cfg, "current", benchmarks=[...])`` is the one entry point (CLI, daemon, idle-time
full suite). Every item's output and scores are stored (``evals``/``eval_items`` and
``evals/<eval_id>/items.jsonl``), so any two evaluations pair by item id. The untrained baseline
(base model, no adapter) is evaluated once per (model hash, benchmark version), cached with
``is_baseline=1`` and extended only with items it has not seen; every evaluation reports its
delta against it with a paired test.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.config import Config
from mentor.engine import BASE_ADAPTER, Engine, GenRequest, build_engine
from mentor.engine.base import Interrupt
from mentor.errors import ConfigError
from mentor.evals import evaluators as ev
from mentor.evals.stats import PairedTest, paired_test, wilson
from mentor.evals.tasks import Item, Task, benchmark_task, data_task, file_task, task_max_new_tokens
from mentor.models import refs
from mentor.paths import Workspace
from mentor.store import connect
from mentor.store import evals as store

log = logging.getLogger(__name__)

#: metrics where lower is better
LOWER_IS_BETTER = frozenset({"loss", "perplexity", "truncated"})
#: (task name, items done, items total)
Progress = Callable[[str, int, int], None]


# -- models --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    ref: str
    base: Path  # the directory loaded as the model
    adapter: Path | None
    version: str | None
    hash: str  # identifies base + adapter
    baseline_hash: str  # hash of the workspace's untrained base model
    is_base: bool  # this *is* the untrained baseline


_HASHES: dict[tuple[str, tuple[tuple[str, int, float], ...]], str] = {}


def model_dir_hash(path: Path) -> str:
    """``loader.dir_hash``, cached per process while the directory's files are unchanged."""
    from mentor.models.loader import dir_hash

    path = Path(path)
    stats = tuple(
        sorted((f.name, f.stat().st_size, f.stat().st_mtime) for f in path.iterdir() if f.is_file())
    )
    key = (str(path.resolve()), stats)
    if key not in _HASHES:
        _HASHES[key] = dir_hash(path)
    return _HASHES[key]


def resolve_model(ws: Workspace, cfg: Config, ref: str) -> ModelSpec:
    """``base`` | ``current`` | ``vNNN`` | a PATH (adapter dir or full model dir), with hashes."""
    from mentor.models.loader import check_model_dir

    base = cfg.model_path(ws.home)
    check_model_dir(base)
    base_hash = model_dir_hash(base)
    r = refs.resolve(ws, cfg, ref)
    if r.adapter is not None:
        h = hashlib.sha256(
            f"{model_dir_hash(r.base)}+{model_dir_hash(r.adapter)}".encode()
        ).hexdigest()
    else:
        h = model_dir_hash(r.base)
    version = r.version.split("_", 1)[0] if r.version else None
    return ModelSpec(
        ref, r.base, r.adapter, version, h, base_hash, r.adapter is None and h == base_hash
    )


# -- results -------------------------------------------------------------------------------
@dataclass
class BenchResult:
    name: str
    version: str
    eval_id: int
    n: int
    evaluators: list[str]
    overall: dict[str, float]
    tiers: dict[str, dict[str, float]]
    intervals: dict[str, tuple[float, float]]
    tokens_per_s: float
    new_tokens: int
    seconds: float
    max_new_tokens: int
    baseline_eval_id: int | None = None
    baseline: dict[str, float] = field(default_factory=dict)  # baseline means on the paired items
    tests: dict[str, PairedTest] = field(default_factory=dict)
    tier_tests: dict[str, dict[str, PairedTest]] = field(default_factory=dict)
    items: dict[str, store.ItemRow] = field(default_factory=dict, repr=False)
    goldens: dict[str, str] = field(default_factory=dict, repr=False)
    base_items: dict[str, store.ItemRow] = field(default_factory=dict, repr=False)

    @property
    def delta(self) -> dict[str, float]:
        return {m: t.delta for m, t in self.tests.items()}


@dataclass
class EvalResult:
    run_id: str
    model_ref: str
    model_hash: str
    version: str | None
    model_path: str
    adapter_path: str | None
    benchmarks: dict[str, BenchResult]
    overall: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    baseline_tests: dict[str, PairedTest]
    created_at: float = field(default_factory=time.time)
    report: Path | None = None

    @property
    def baseline_delta(self) -> dict[str, float]:
        return {m: t.delta for m, t in self.baseline_tests.items()}

    def item_scores(self, metric: str) -> dict[str, float]:
        """``benchmark/item_id`` -> value, over every benchmark (for paired comparisons)."""
        out: dict[str, float] = {}
        for b in self.benchmarks.values():
            for iid, it in b.items.items():
                if metric in it.scores:
                    out[f"{b.name}/{iid}"] = float(it.scores[metric])
        return out

    def is_binary(self, metric: str) -> bool:
        return metric in ev.binary_metrics(
            [e for b in self.benchmarks.values() for e in b.evaluators]
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model_ref,
            "version": self.version,
            "model_hash": self.model_hash,
            "run_id": self.run_id,
            "overall": self.overall,
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "benchmarks": {
                b.name: {
                    "version": b.version,
                    "eval_id": b.eval_id,
                    "n": b.n,
                    "overall": b.overall,
                    "intervals": {k: list(v) for k, v in b.intervals.items()},
                    "tiers": b.tiers,
                    "tokens_per_s": b.tokens_per_s,
                    "max_new_tokens": b.max_new_tokens,
                    "baseline_eval_id": b.baseline_eval_id,
                    "baseline_delta": {m: t.to_dict() for m, t in b.tests.items()},
                }
                for b in self.benchmarks.values()
            },
            "baseline_delta": {m: t.to_dict() for m, t in self.baseline_tests.items()},
            "report": str(self.report) if self.report else None,
        }


# -- running -------------------------------------------------------------------------------
@dataclass
class _Run:
    rows: list[store.ItemRow]
    new_tokens: int
    seconds: float
    max_new_tokens: int


def run_task(
    engine: Engine,
    task: Task,
    items: list[Item],
    *,
    cfg: Config,
    adapter: str | None = None,
    progress: Progress | None = None,
    interrupt: Interrupt | None = None,
) -> _Run:
    """Generate (batched, one template) and score ``items`` of ``task``."""
    evaluators = [ev.get(n) for n in task.evaluators]
    max_new = task.max_new_tokens or task_max_new_tokens(
        engine.tokenizer, task, cfg.eval.max_new_tokens
    )
    scores: list[dict[str, float]] = [{} for _ in items]
    outputs = [""] * len(items)
    done = 0
    total = len(items) * (
        int(any(e.generative for e in evaluators)) + sum(not e.generative for e in evaluators)
    )

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(task.name, done, total)

    new_tokens, seconds = 0, 0.0
    if any(e.generative for e in evaluators) and items:
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
            for e in evaluators:
                if e.generative:
                    scores[i].update(e.score(it, res.text))
    for e in evaluators:
        if not e.generative and items:
            ctx = getattr(engine, "_adapter", None)
            if ctx is not None:
                with ctx(adapter):
                    computed = e.compute(
                        engine, items, batch_size=max(1, cfg.eval.batch_size // 4), progress=tick
                    )
            else:
                computed = e.compute(
                    engine, items, batch_size=max(1, cfg.eval.batch_size // 4), progress=tick
                )
            for s, c in zip(scores, computed, strict=True):
                s.update(c)
    rows = [
        store.ItemRow(it.id, it.tier, out, s)
        for it, out, s in zip(items, outputs, scores, strict=True)
    ]
    return _Run(rows, new_tokens, seconds, max_new)


def summarize(rows: list[store.ItemRow]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(overall, per tier) metrics of item rows; ``truncated`` = share of outputs cut at the cap."""

    def agg(rs: list[store.ItemRow]) -> dict[str, float]:
        m = ev.aggregate([r.scores for r in rs])
        cuts = [r.scores["_cut"] for r in rs if "_cut" in r.scores]
        if cuts:
            m["truncated"] = sum(cuts) / len(cuts)
        return m

    tiers: dict[str, list[store.ItemRow]] = {}
    for r in rows:
        tiers.setdefault(r.tier or "all", []).append(r)
    return agg(rows), {t: agg(rs) for t, rs in sorted(tiers.items())}


def intervals(
    rows: list[store.ItemRow], overall: dict[str, float]
) -> dict[str, tuple[float, float]]:
    """Wilson 95% intervals of every metric that is a proportion."""
    out: dict[str, tuple[float, float]] = {}
    for m, v in overall.items():
        if m in LOWER_IS_BETTER or not 0.0 <= v <= 1.0:
            continue
        vals = [r.scores[m] for r in rows if m in r.scores and not math.isnan(r.scores[m])]
        if vals:
            out[m] = wilson(sum(vals), len(vals))
    return out


def compare(
    cand: dict[str, store.ItemRow],
    ref: dict[str, store.ItemRow],
    binary: set[str],
    *,
    ids: set[str] | None = None,
) -> dict[str, PairedTest]:
    """Paired tests of every shared metric over the shared item ids."""
    shared = set(cand) & set(ref) if ids is None else ids & set(cand) & set(ref)
    metrics = sorted(
        {k for i in shared for k in cand[i].scores if not k.startswith("_")}
        & {k for i in shared for k in ref[i].scores if not k.startswith("_")}
    )
    out = {}
    for m in metrics:
        a = {i: float(cand[i].scores[m]) for i in shared if m in cand[i].scores}
        b = {i: float(ref[i].scores[m]) for i in shared if m in ref[i].scores}
        out[m] = paired_test(m, a, b, binary=m in binary)
    return out


def _write_items(
    ws: Workspace, eval_id: int, rows: list[store.ItemRow], goldens: dict[str, str]
) -> Path:
    from mentor.paths import atomic_write_text

    d = ws.evals / str(eval_id)
    lines = [
        json.dumps(
            {
                "item_id": r.item_id,
                "tier": r.tier,
                "output": r.output,
                "golden": goldens.get(r.item_id),
                "scores": r.scores,
            },
            ensure_ascii=False,
        )
        for r in rows
    ]
    atomic_write_text(d / "items.jsonl", "\n".join(lines) + ("\n" if lines else ""))
    return d


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
    baseline: bool = True,
    report: bool = True,
    interrupt: Interrupt | None = None,
) -> EvalResult:
    """Evaluate a model on benchmarks (default ``eval.benchmarks``) or on a data file / rows.

    ``limit`` keeps the first N items of each task. ``backend`` names an engine backend (tests
    register ``replay``); ``engine`` reuses a loaded one built for ``model_ref``.
    ``interrupt`` reaches every generation (:class:`~mentor.engine.base.GenerationInterrupted`).
    """
    spec = resolve_model(ws, cfg, model_ref)
    todo = tasks if tasks is not None else _tasks(cfg, benchmarks, data, name)
    if engine is None:
        engine = eval_engine(spec.base, spec.adapter, cfg, backend)
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    conn = connect(ws.db)
    base_engine: Engine | None = None

    def baseline_engine() -> tuple[Engine, str | None]:
        nonlocal base_engine
        assert engine is not None
        if getattr(engine, "is_peft", False) and spec.base == cfg.model_path(ws.home):
            return engine, BASE_ADAPTER
        if base_engine is None:
            base_engine = eval_engine(cfg.model_path(ws.home), None, cfg, backend)
        return base_engine, None

    results: dict[str, BenchResult] = {}
    try:
        for task in todo:
            items = task.items[:limit] if limit else list(task.items)
            goldens = {i.id: i.golden or "" for i in items}
            binary = ev.binary_metrics(task.evaluators)
            cached = (
                store.find_baseline(conn, spec.baseline_hash, task.name, task.version)
                if baseline
                else None
            )
            cached_items = store.items(conn, cached.id) if cached else {}
            if spec.is_base and baseline:
                # The untrained baseline itself: reuse cached items, generate only new ones.
                missing = [i for i in items if i.id not in cached_items]
                run = run_task(
                    engine, task, missing, cfg=cfg, progress=progress, interrupt=interrupt
                )
                eval_id = _store_baseline(ws, conn, spec, task, cached, run, goldens, run_id)
                all_items = store.items(conn, eval_id)
                rows = [all_items[i.id] for i in items]
                base_tests: dict[str, PairedTest] = {}
                base_id: int | None = eval_id
                base_means: dict[str, float] = {}
            else:
                run = run_task(engine, task, items, cfg=cfg, progress=progress, interrupt=interrupt)
                rows = run.rows
                overall, tiers = summarize(rows)
                eval_id = store.insert_eval(
                    conn,
                    model_ref=model_ref,
                    model_hash=spec.hash,
                    version=spec.version,
                    benchmark=task.name,
                    bench_version=task.version,
                    metrics=_metrics(overall, tiers, run, task, run_id, model_ref),
                    items=rows,
                )
                store.set_path(conn, eval_id, str(_write_items(ws, eval_id, rows, goldens)))
                base_id, base_tests, base_means = None, {}, {}
                if baseline:
                    missing = [i for i in items if i.id not in cached_items]
                    if missing:
                        beng, badapter = baseline_engine()
                        brun = run_task(
                            beng,
                            task,
                            missing,
                            cfg=cfg,
                            adapter=badapter,
                            progress=progress,
                            interrupt=interrupt,
                        )
                        base_id = _store_baseline(
                            ws, conn, spec, task, cached, brun, goldens, run_id
                        )
                    else:
                        base_id = cached.id if cached else None
                    if base_id is not None:
                        cand = {r.item_id: r for r in rows}
                        base_tests = compare(cand, store.items(conn, base_id), binary)
                        base_means = {m: t.reference for m, t in base_tests.items()}
            overall, tiers = summarize(rows)
            cand_map = {r.item_id: r for r in rows}
            tier_tests: dict[str, dict[str, PairedTest]] = {}
            base_items: dict[str, store.ItemRow] = {}
            if base_id is not None and not spec.is_base:
                base_items = {k: v for k, v in store.items(conn, base_id).items() if k in cand_map}
                for tier in tiers:
                    ids = {r.item_id for r in rows if (r.tier or "all") == tier}
                    tier_tests[tier] = compare(cand_map, base_items, binary, ids=ids)
            results[task.name] = BenchResult(
                name=task.name,
                version=task.version,
                eval_id=eval_id,
                n=len(rows),
                evaluators=list(task.evaluators),
                overall=overall,
                tiers=tiers,
                intervals=intervals(rows, overall),
                tokens_per_s=run.new_tokens / run.seconds if run.seconds > 0 else 0.0,
                new_tokens=run.new_tokens,
                seconds=run.seconds,
                max_new_tokens=run.max_new_tokens,
                baseline_eval_id=base_id,
                baseline=base_means,
                tests=base_tests,
                tier_tests=tier_tests,
                items=cand_map,
                goldens=goldens,
                base_items=base_items,
            )
    finally:
        conn.close()
    result = _combine(run_id, model_ref, spec, results)
    if report:
        from mentor.evals.report import write_report

        result.report = write_report(ws, result)
    return result


def _metrics(
    overall: dict[str, float],
    tiers: dict[str, dict[str, float]],
    run: _Run,
    task: Task,
    run_id: str,
    model_ref: str,
) -> dict[str, Any]:
    return {
        "overall": overall,
        "tiers": tiers,
        "run": run_id,
        "evaluators": task.evaluators,
        "max_new_tokens": run.max_new_tokens,
        "new_tokens": run.new_tokens,
        "seconds": run.seconds,
        "tokens_per_s": run.new_tokens / run.seconds if run.seconds > 0 else 0.0,
    }


def _store_baseline(
    ws: Workspace,
    conn: Any,
    spec: ModelSpec,
    task: Task,
    cached: store.EvalRow | None,
    run: _Run,
    goldens: dict[str, str],
    run_id: str,
) -> int:
    """Create the cached baseline, or extend it with the items it had not seen."""
    if cached is None:
        overall, tiers = summarize(run.rows)
        eval_id = store.insert_eval(
            conn,
            model_ref="base",
            model_hash=spec.baseline_hash,
            benchmark=task.name,
            bench_version=task.version,
            is_baseline=True,
            metrics=_metrics(overall, tiers, run, task, run_id, "base"),
            items=run.rows,
        )
    else:
        eval_id = cached.id
        if run.rows:
            merged = {**store.items(conn, eval_id), **{r.item_id: r for r in run.rows}}
            overall, tiers = summarize(list(merged.values()))
            store.add_items(
                conn, eval_id, run.rows, {**cached.metrics, "overall": overall, "tiers": tiers}
            )
    all_rows = list(store.items(conn, eval_id).values())
    old = {}
    if (ws.evals / str(eval_id) / "items.jsonl").is_file():
        for line in (
            (ws.evals / str(eval_id) / "items.jsonl").read_text(encoding="utf-8").splitlines()
        ):
            if line:
                rec = json.loads(line)
                old[rec["item_id"]] = rec.get("golden") or ""
    store.set_path(conn, eval_id, str(_write_items(ws, eval_id, all_rows, {**old, **goldens})))
    return eval_id


def _combine(
    run_id: str, model_ref: str, spec: ModelSpec, results: dict[str, BenchResult]
) -> EvalResult:
    rows = [r for b in results.values() for r in b.items.values()]
    overall, _ = summarize(rows)
    tests: dict[str, PairedTest] = {}
    cand = {f"{b.name}/{i}": r for b in results.values() for i, r in b.items.items()}
    binary = ev.binary_metrics([e for b in results.values() for e in b.evaluators])
    if not spec.is_base:
        pooled_ref = {f"{b.name}/{i}": r for b in results.values() for i, r in b.base_items.items()}
        if pooled_ref:
            tests = compare(cand, pooled_ref, binary)
    return EvalResult(
        run_id=run_id,
        model_ref=model_ref,
        model_hash=spec.hash,
        version=spec.version,
        model_path=str(spec.base),
        adapter_path=str(spec.adapter) if spec.adapter else None,
        benchmarks=results,
        overall=overall,
        intervals=intervals(rows, overall),
        baseline_tests=tests,
    )
