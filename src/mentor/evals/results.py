"""What an evaluation produced: item rows, their summaries and intervals, the paired tests
against the baseline, and the ``items.jsonl`` file of every evaluation.

Kept apart from the runner (which generates) and the statistics (which compare), so reports, the
gate and the CLI read results without importing the machinery that makes them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.evals import evaluators as ev
from mentor.evals.stats import PairedTest, compare, wilson
from mentor.evals.tasks import Task
from mentor.models.refs import ModelSpec
from mentor.paths import Workspace, atomic_write_text
from mentor.store.evals import ItemRow

#: metrics where lower is better
LOWER_IS_BETTER = frozenset({"loss", "perplexity", "truncated"})


@dataclass
class TaskRun:
    """The scored items of one task on one model, with the generation's cost."""

    rows: list[ItemRow]
    new_tokens: int
    seconds: float
    max_new_tokens: int

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Baseline:
    """The cached untrained baseline of a task: its eval id and every item it has scored."""

    eval_id: int
    items: dict[str, ItemRow]


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
    items: dict[str, ItemRow] = field(default_factory=dict, repr=False)
    goldens: dict[str, str] = field(default_factory=dict, repr=False)
    base_items: dict[str, ItemRow] = field(default_factory=dict, repr=False)


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

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model_ref,
            "version": self.version,
            "model_hash": self.model_hash,
            "run_id": self.run_id,
            "overall": self.overall,
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "benchmarks": {b.name: _bench_json(b) for b in self.benchmarks.values()},
            "baseline_delta": {m: t.to_dict() for m, t in self.baseline_tests.items()},
            "report": str(self.report) if self.report else None,
        }


def _bench_json(b: BenchResult) -> dict[str, Any]:
    return {
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


def summarize(rows: list[ItemRow]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(overall, per tier) metrics of item rows; ``truncated`` = share of outputs cut at the cap."""

    def agg(rs: list[ItemRow]) -> dict[str, float]:
        m = ev.aggregate([r.scores for r in rs])
        cuts = [r.scores["_cut"] for r in rs if "_cut" in r.scores]
        if cuts:
            m["truncated"] = sum(cuts) / len(cuts)
        return m

    tiers: dict[str, list[ItemRow]] = {}
    for r in rows:
        tiers.setdefault(r.tier or "all", []).append(r)
    return agg(rows), {t: agg(rs) for t, rs in sorted(tiers.items())}


def intervals(rows: list[ItemRow], overall: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Wilson 95% intervals of every metric that is a proportion."""
    out: dict[str, tuple[float, float]] = {}
    for m, v in overall.items():
        if m in LOWER_IS_BETTER or not 0.0 <= v <= 1.0:
            continue
        vals = [r.scores[m] for r in rows if m in r.scores and not math.isnan(r.scores[m])]
        if vals:
            out[m] = wilson(sum(vals), len(vals))
    return out


def bench_result(
    task: Task,
    eval_id: int,
    rows: list[ItemRow],
    run: TaskRun,
    goldens: dict[str, str],
    baseline: Baseline | None = None,
) -> BenchResult:
    """One task's result; with a ``baseline``, the paired tests against it (overall and per
    tier) over the items both scored."""
    overall, tiers = summarize(rows)
    cand = {r.item_id: r for r in rows}
    res = BenchResult(
        name=task.name,
        version=task.version,
        eval_id=eval_id,
        n=len(rows),
        evaluators=list(task.evaluators),
        overall=overall,
        tiers=tiers,
        intervals=intervals(rows, overall),
        tokens_per_s=run.tokens_per_s,
        new_tokens=run.new_tokens,
        seconds=run.seconds,
        max_new_tokens=run.max_new_tokens,
        items=cand,
        goldens=goldens,
    )
    if baseline is None:
        return res
    binary = ev.binary_metrics(task.evaluators)
    res.baseline_eval_id = baseline.eval_id
    res.tests = compare(cand, baseline.items, binary)
    res.baseline = {m: t.reference for m, t in res.tests.items()}
    res.base_items = {k: v for k, v in baseline.items.items() if k in cand}
    for tier in tiers:
        ids = {r.item_id for r in rows if (r.tier or "all") == tier}
        res.tier_tests[tier] = compare(cand, res.base_items, binary, ids=ids)
    return res


def combine(run_id: str, spec: ModelSpec, results: dict[str, BenchResult]) -> EvalResult:
    """Every task of one evaluation together: pooled metrics and pooled paired tests (items
    keyed ``benchmark/item_id``)."""
    rows = [r for b in results.values() for r in b.items.values()]
    overall, _ = summarize(rows)
    cand = {f"{b.name}/{i}": r for b in results.values() for i, r in b.items.items()}
    ref = {f"{b.name}/{i}": r for b in results.values() for i, r in b.base_items.items()}
    binary = ev.binary_metrics([e for b in results.values() for e in b.evaluators])
    return EvalResult(
        run_id=run_id,
        model_ref=spec.ref,
        model_hash=spec.hash,
        version=spec.version,
        model_path=str(spec.base),
        adapter_path=str(spec.adapter) if spec.adapter else None,
        benchmarks=results,
        overall=overall,
        intervals=intervals(rows, overall),
        baseline_tests=compare(cand, ref, binary) if ref else {},
    )


def metrics_record(rows: list[ItemRow], run: TaskRun, task: Task, run_id: str) -> dict[str, Any]:
    """The ``metrics`` JSON stored with an ``evals`` row."""
    overall, tiers = summarize(rows)
    return {
        "overall": overall,
        "tiers": tiers,
        "run": run_id,
        "evaluators": task.evaluators,
        "max_new_tokens": run.max_new_tokens,
        "new_tokens": run.new_tokens,
        "seconds": run.seconds,
        "tokens_per_s": run.tokens_per_s,
    }


def write_items(ws: Workspace, eval_id: int, rows: list[ItemRow], goldens: dict[str, str]) -> Path:
    """``evals/<eval_id>/items.jsonl``: every item's output, golden and scores (atomic)."""
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


def read_goldens(ws: Workspace, eval_id: int) -> dict[str, str]:
    """The goldens an evaluation's ``items.jsonl`` holds (empty when it has none)."""
    path = ws.evals / str(eval_id) / "items.jsonl"
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line:
            rec = json.loads(line)
            out[rec["item_id"]] = rec.get("golden") or ""
    return out
