"""Compare two models on the same items, with paired statistics.

``A`` and ``B`` are any model references (base, current, vNNN, PATH). Both are scored on the same
items of each task (benchmarks or a data file); item scores already stored for a model (by its
hash) are reused and only the missing items are generated. For every metric: the means, B - A,
the paired test (exact McNemar for 0/1 metrics, Wilcoxon otherwise), a paired bootstrap 95%
interval of the difference and the minimum detectable effect of that item count, so "no
significant difference" says how large a difference could still hide.

Average loss comes from the ``perplexity`` evaluator; for tasks scored without it (SYLLO
benchmarks) it is computed as an extra task named ``<task>+loss``, stored like any evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentor.analysis import sources
from mentor.config import Config
from mentor.evals import evaluators as ev
from mentor.evals.results import LOWER_IS_BETTER
from mentor.evals.runner import evaluate
from mentor.evals.stats import ALPHA, POWER, Difference, difference
from mentor.evals.tasks import Task, benchmark_task, file_task
from mentor.models.refs import ModelSpec, resolve_model
from mentor.paths import Workspace

LOSS_SUFFIX = "+loss"
Progress = Callable[[str, int, int], None]


@dataclass
class _Side:
    ref: str
    spec: ModelSpec
    scores: dict[str, dict[str, float]]  # "task/item" -> metrics
    tiers: dict[str, str]  # "task/item" -> tier
    tokens: dict[str, tuple[float, float]]  # task -> (new tokens, seconds)
    reused: dict[str, int]
    evaluated: dict[str, int]


def tasks_for(cfg: Config, benchmarks: list[str] | None, data: Path | None) -> list[Task]:
    if data is not None:
        return [file_task(Path(data))]
    return [benchmark_task(b) for b in (benchmarks or cfg.eval.benchmarks)]


def _with_loss(task: Task) -> list[Task]:
    if "perplexity" in task.evaluators:
        return [task]
    return [task, Task(task.name + LOSS_SUFFIX, task.version, task.items, ["perplexity"])]


def _collect(
    ws: Workspace,
    cfg: Config,
    side: _Side,
    tasks: list[Task],
    *,
    evaluate_missing: bool,
    backend: str,
    progress: Progress | None,
) -> None:
    """Stored scores of ``side`` on ``tasks``; the items missing are evaluated (if allowed)."""
    todo: list[Task] = []
    for task in tasks:
        stored, tiers, rows = sources.stored_items(ws, side.spec.hash, task.name, task.version)
        want = {i.id for i in task.items}
        have = {i for i in want if i in stored}
        side.reused[task.name] = len(have)
        missing = [i for i in task.items if i.id not in have]
        if missing and evaluate_missing:
            todo.append(
                Task(task.name, task.version, missing, task.evaluators, task.max_new_tokens)
            )
        base = task.name.removesuffix(LOSS_SUFFIX)
        for iid in have:
            side.scores.setdefault(f"{base}/{iid}", {}).update(stored[iid])
            side.tiers[f"{base}/{iid}"] = tiers.get(iid) or "all"
        if not task.name.endswith(LOSS_SUFFIX):
            tok = sum(float(r.metrics.get("new_tokens") or 0) for r in rows)
            sec = sum(float(r.metrics.get("seconds") or 0) for r in rows)
            side.tokens[task.name] = (tok, sec)
    if not todo:
        return
    res = evaluate(
        ws,
        cfg,
        side.ref,
        tasks=todo,
        baseline=False,
        report=False,
        backend=backend,
        progress=progress,
    )
    for name, b in res.benchmarks.items():
        side.evaluated[name] = len(b.items)
        base = name.removesuffix(LOSS_SUFFIX)
        for iid, it in b.items.items():
            side.scores.setdefault(f"{base}/{iid}", {}).update(it.scores)
            side.tiers[f"{base}/{iid}"] = it.tier or "all"
        if not name.endswith(LOSS_SUFFIX):
            tok, sec = side.tokens.get(name, (0.0, 0.0))
            side.tokens[name] = (tok + b.new_tokens, sec + b.seconds)


def winner(metric: str, d: Difference) -> str:
    """ "A", "B" or "tie" (no significant difference at the comparison's alpha)."""
    if not d.significant or d.n == 0 or d.delta == 0:
        return "tie"
    b_better = d.delta < 0 if metric in LOWER_IS_BETTER else d.delta > 0
    return "B" if b_better else "A"


def _diffs(
    a: _Side, b: _Side, keys: set[str], binary: set[str], alpha: float, power: float, seed: int
) -> dict[str, dict[str, Any]]:
    metrics = sorted(
        {m for k in keys for m in a.scores.get(k, {}) if not m.startswith("_")}
        & {m for k in keys for m in b.scores.get(k, {}) if not m.startswith("_")}
    )
    out = {}
    for m in metrics:
        va = {k: a.scores[k][m] for k in keys if m in a.scores.get(k, {})}
        vb = {k: b.scores[k][m] for k in keys if m in b.scores.get(k, {})}
        d = difference(m, va, vb, binary=m in binary, alpha=alpha, power=power, seed=seed)
        if d.n:
            out[m] = dict(d.to_dict(), winner=winner(m, d))
    return out


def compare(
    ws: Workspace,
    cfg: Config,
    a: str,
    b: str,
    *,
    benchmarks: list[str] | None = None,
    data: Path | None = None,
    limit: int | None = None,
    loss: bool = True,
    evaluate_missing: bool = True,
    backend: str = "hf",
    alpha: float = ALPHA,
    power: float = POWER,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Compare model ``b`` against model ``a``; a JSON-able dict (see the module docstring)."""
    tasks = tasks_for(cfg, benchmarks, data)
    if limit:
        tasks = [
            Task(t.name, t.version, t.items[:limit], t.evaluators, t.max_new_tokens) for t in tasks
        ]
    run: list[Task] = [x for t in tasks for x in (_with_loss(t) if loss else [t])]
    sides = []
    for ref in (a, b):
        side = _Side(ref, resolve_model(ws, cfg, ref), {}, {}, {}, {}, {})
        _collect(
            ws,
            cfg,
            side,
            run,
            evaluate_missing=evaluate_missing,
            backend=backend,
            progress=progress,
        )
        sides.append(side)
    sa, sb = sides
    binary = ev.binary_metrics([e for t in tasks for e in t.evaluators])
    per_task: list[dict[str, Any]] = []
    for t in tasks:
        keys = {f"{t.name}/{i.id}" for i in t.items} & set(sa.scores) & set(sb.scores)
        tiers: dict[str, set[str]] = {}
        for k in keys:
            tiers.setdefault(sa.tiers.get(k) or sb.tiers.get(k) or "all", set()).add(k)
        per_task.append(
            {
                "name": t.name,
                "version": t.version,
                "n": len(keys),
                "headline": ev.get(t.evaluators[0]).headline,
                "reused": {"a": sa.reused.get(t.name, 0), "b": sb.reused.get(t.name, 0)},
                "evaluated": {"a": sa.evaluated.get(t.name, 0), "b": sb.evaluated.get(t.name, 0)},
                "tokens_per_s": {"a": _rate(sa, t.name), "b": _rate(sb, t.name)},
                "metrics": _diffs(sa, sb, keys, binary, alpha, power, seed),
                "tiers": {
                    tier: _diffs(sa, sb, ks, binary, alpha, power, seed)
                    for tier, ks in sorted(tiers.items())
                },
            }
        )
    every = {k for t in tasks for k in (f"{t.name}/{i.id}" for i in t.items)}
    every &= set(sa.scores) & set(sb.scores)
    overall: dict[str, dict[str, Any]] = (
        _diffs(sa, sb, every, binary, alpha, power, seed)
        if len(tasks) > 1
        else (per_task[0]["metrics"] if per_task else {})
    )
    out: dict[str, Any] = {
        "a": _model(sa),
        "b": _model(sb),
        "alpha": alpha,
        "power": power,
        "tasks": per_task,
        "overall": overall,
        "p_value": {m: d["p_value"] for m, d in overall.items()},
    }
    out["verdict"] = verdict_lines(out)
    return out


def compare_data(ws: Workspace, cfg: Config, a: str, b: str, **kw: Any) -> dict[str, Any]:
    """The comparison from stored item scores only (read-only: nothing is generated)."""
    return compare(ws, cfg, a, b, evaluate_missing=False, **kw)


def _rate(side: _Side, task: str) -> float | None:
    tok, sec = side.tokens.get(task, (0.0, 0.0))
    return tok / sec if sec > 0 else None


def _model(side: _Side) -> dict[str, Any]:
    return {
        "ref": side.ref,
        "version": side.spec.version,
        "hash": side.spec.hash[:16],
        "path": str(side.spec.base),
        "adapter": str(side.spec.adapter) if side.spec.adapter else None,
    }


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def verdict_lines(result: dict[str, Any]) -> list[str]:
    """One line per headline metric (and loss), in the users' style."""
    a, b = result["a"]["ref"], result["b"]["ref"]
    heads = {t["headline"] for t in result["tasks"]} | {"loss"}
    lines = []
    for m, d in result["overall"].items():
        if m not in heads:
            continue
        ci = f"[{_fmt(d['ci'][0])}, {_fmt(d['ci'][1])}]"
        stat = f"p={d['p_value']:.3g}, {d['test']}, n={d['n']}"
        if d["winner"] == "tie":
            mde = (
                f"a difference below {_fmt(d['mde'])} could still hide (detectable at "
                f"{result['power']:.0%} power)"
                if d["mde"] is not None
                else "too few items, or no spread between them, to size a detectable difference"
            )
            lines.append(
                f"⚠️ No significant difference in {m}: {b} - {a} = {d['delta']:+.3f} {ci} ({stat}); {mde}"
            )
        else:
            better, worse = (b, a) if d["winner"] == "B" else (a, b)
            lines.append(f"✅ {better} beats {worse} on {m}: {d['delta']:+.3f} {ci} ({stat})")
    if not lines:
        lines.append("⚠️ No items scored by both models: nothing to compare")
    return lines
