"""Business metrics: cost per run, energy, ROI per dataset, improvement over time, production.

* **Cost of a run**: its training wall time x ``cost.gpu_count`` x ``cost.gpu_price_per_hour``
  on a GPU (``cost.cpu_price_per_hour`` on the CPU), plus energy x ``cost.energy_price_per_kwh``.
* **Energy**: the mean NVML power of the run's ``metrics.jsonl`` records (``sys_gpu_power_w``,
  GPU 0, x ``cost.gpu_count``) x its wall time; without NVML power, ``cost.power_watts`` when set
  (marked ``configured``), else unknown.
* **ROI per dataset**: each version made from a file gains ``report.headline_metric`` over its
  parent version (the first one over the untrained baseline, ``<set>.delta.<metric>``); the gain
  per file, per 1,000 trained rows and per unit of cost of the runs that trained it.
* **Improvement over time**: the headline metric of every version in order.
* **Production**: the API server's own snapshot (``status/serve_metrics.json``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from mentor.analysis import sources
from mentor.config import Config, CostConfig
from mentor.paths import Workspace

POWER_KEY = "sys_gpu_power_w"


@dataclass
class RunCost:
    run_id: str
    file: str
    file_hash: str
    started_at: float
    device: str  # gpu | cpu
    seconds: float
    hours: float  # machine hours (x gpu_count = GPU-hours on a GPU)
    gpu_hours: float
    compute_cost: float
    energy_kwh: float | None
    energy_source: str | None  # nvml | configured | None
    energy_cost: float
    cost: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_cost(run: sources.Run, cost: CostConfig) -> RunCost:
    hours = run.seconds / 3600.0
    if run.on_gpu:
        gpu_hours = hours * cost.gpu_count
        compute = gpu_hours * cost.gpu_price_per_hour
    else:
        gpu_hours, compute = 0.0, hours * cost.cpu_price_per_hour
    kwh, source = energy_kwh(run, cost)
    energy_cost = (kwh or 0.0) * cost.energy_price_per_kwh
    return RunCost(
        run.id,
        run.file,
        run.file_hash,
        run.started_at,
        "gpu" if run.on_gpu else "cpu",
        run.seconds,
        hours,
        gpu_hours,
        compute,
        kwh,
        source,
        energy_cost,
        compute + energy_cost,
    )


def energy_kwh(run: sources.Run, cost: CostConfig) -> tuple[float | None, str | None]:
    """(kWh, where the power came from) of a run; (None, None) when unknown."""
    power = run.mean_of(POWER_KEY)
    if power is not None:
        return power * cost.gpu_count * run.seconds / 3.6e6, "nvml"
    if cost.power_watts > 0:
        return cost.power_watts * run.seconds / 3.6e6, "configured"
    return None, None


def eval_seconds(ws: Workspace, since: float, until: float) -> float:
    """Generation time of the evaluations stored in ``[since, until)``."""
    total = 0.0
    for e in sources.evals(ws):
        if since <= e.created_at < until:
            secs = e.metrics.get("seconds")
            if isinstance(secs, int | float):
                total += float(secs)
    return total


def costs_between(ws: Workspace, cfg: Config, since: float, until: float) -> dict[str, Any]:
    """Training runs finished in the window with their costs, plus evaluation time and totals.

    Evaluation hours are priced like the machine of the window's last training run (a GPU when
    it trained on one), as evaluations record no device of their own.
    """
    runs = sources.runs_between(ws, since, until)
    costs = [run_cost(r, cfg.cost) for r in runs]
    eval_s = eval_seconds(ws, since, until)
    on_gpu = bool(runs) and runs[-1].on_gpu
    rate = (
        cfg.cost.gpu_price_per_hour * cfg.cost.gpu_count if on_gpu else cfg.cost.cpu_price_per_hour
    )
    eval_cost = eval_s / 3600.0 * rate
    kwh = [c.energy_kwh for c in costs if c.energy_kwh is not None]
    return {
        "currency": cfg.cost.currency,
        "runs": [c.to_dict() for c in costs],
        "train_hours": sum(c.hours for c in costs),
        "gpu_hours": sum(c.gpu_hours for c in costs),
        "eval_hours": eval_s / 3600.0,
        "energy_kwh": sum(kwh) if kwh else None,
        "train_cost": sum(c.cost for c in costs),
        "eval_cost": eval_cost,
        "total_cost": sum(c.cost for c in costs) + eval_cost,
    }


# -- ROI and improvement over time ---------------------------------------------------------------
def delta_key(metric: str) -> str:
    """``quick.solved`` -> ``quick.delta.solved`` (the version's gain over the baseline)."""
    head, sep, rest = metric.partition(".")
    return f"{head}.delta.{rest}" if sep else f"delta.{metric}"


@dataclass
class DatasetROI:
    version: str
    files: list[str]
    rows: int
    runs: list[str]
    cost: float
    metric: str
    value: float | None
    reference: str  # what the gain is measured against: the parent version or "baseline"
    gain: float | None
    gain_per_1k_rows: float | None
    gain_per_cost: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def roi(ws: Workspace, cfg: Config, *, until: float | None = None) -> list[DatasetROI]:
    """ROI of every version made from data files, oldest first."""
    metric = cfg.report.headline_metric
    versions = sources.versions(ws, until=until)
    by_name = {v.name: v for v in versions}
    runs = sources.all_runs(ws)
    out = []
    for v in versions:
        if not v.data:
            continue
        value = v.metric(metric)
        parent = by_name.get(v.parent or "")
        parent_value = parent.metric(metric) if parent else None
        gain: float | None
        if value is not None and parent_value is not None and parent is not None:
            gain, ref = value - parent_value, parent.short
        else:
            gain, ref = v.metric(delta_key(metric)), "baseline"
        hashes = {str(d.get("hash")) for d in v.data}
        low = parent.steps if parent and parent.steps is not None else None
        mine = [
            r
            for r in runs
            if r.file_hash in hashes
            and (v.steps is None or r.step_end <= v.steps)
            and (low is None or r.step_start >= low)
        ]
        spent = sum(run_cost(r, cfg.cost).cost for r in mine)
        rows = sum(int(d.get("rows") or 0) for d in v.data)
        out.append(
            DatasetROI(
                v.short,
                [str(d.get("file")) for d in v.data],
                rows,
                [r.id for r in mine],
                spent,
                metric,
                value,
                ref,
                gain,
                gain / rows * 1000 if gain is not None and rows else None,
                gain / spent if gain is not None and spent > 0 else None,
            )
        )
    return out


def improvement(ws: Workspace, cfg: Config, *, until: float | None = None) -> list[dict[str, Any]]:
    """The headline metric of every version in order, with its change from the previous one."""
    metric = cfg.report.headline_metric
    out: list[dict[str, Any]] = []
    prev: float | None = None
    for v in sources.versions(ws, until=until):
        value = v.metric(metric)
        if value is None:
            continue
        out.append(
            {
                "version": v.short,
                "created_at": v.created_at,
                "steps": v.steps,
                "status": v.status,
                "value": value,
                "change": value - prev if prev is not None else None,
                "vs_baseline": v.metric(delta_key(metric)),
            }
        )
        prev = value
    return out


def production(ws: Workspace, now: float | None = None) -> dict[str, Any] | None:
    """The API server's last metrics snapshot with its age in seconds (None: never served)."""
    snap = sources.serve_snapshot(ws)
    if snap is None:
        return None
    now = time.time() if now is None else now
    written = snap.get("written_at")
    return dict(snap, age_s=now - written if isinstance(written, int | float) else None)


def business(ws: Workspace, cfg: Config) -> dict[str, Any]:
    """Everything at once, for ``mentor summary`` and the dashboard (all time)."""
    costs = costs_between(ws, cfg, 0.0, time.time() + 1)
    return {
        "cost": {k: v for k, v in costs.items() if k != "runs"},
        "roi": [r.to_dict() for r in roi(ws, cfg)],
        "improvement": improvement(ws, cfg),
        "production": production(ws),
    }
