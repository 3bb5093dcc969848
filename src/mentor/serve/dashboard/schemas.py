"""Response bodies of the dashboard's JSON endpoints (pydantic), for its OpenAPI schema.

The outer shape is typed; what is passed through from the workspace as written (the status
snapshot, metrics records, preview examples, a version's metrics) stays a free JSON object, and
any key :mod:`~mentor.serve.dashboard.views` adds is kept (``extra="allow"``). Serialized by
pydantic, so a non-finite number (a NaN loss in ``metrics.jsonl``) goes out as ``null``: valid
JSON that the pages draw as a gap, where ``json.dumps`` refused it with a 500.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

Obj = dict[str, Any]


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Progress(Open):
    steps_per_s: float | None = None
    total: Obj | None = None  # {step, of, share, eta_s}
    file: Obj | None = None


class QueuedJob(Open):
    id: int
    name: str
    state: str
    priority: str | int | None = None
    attempts: int | None = None
    rows_total: int | None = None
    rows_done: int | None = None
    created_at: float | None = None
    started_at: float | None = None


class Event(Open):
    id: int
    ts: float
    kind: str
    level: str
    message: str
    version: str | None = None
    job_id: int | None = None
    data: Obj | None = None


class Alert(Open):
    kind: str
    level: str
    message: str
    ts: float


class Overview(Open):
    now: float
    run: str | None
    status: Obj
    progress: Progress
    last_metrics: Obj | None
    system: Obj
    alerts: list[Alert]
    queue: list[QueuedJob]
    events: list[Event]


class RunFolder(Open):
    id: str
    mtime: float
    has_metrics: bool
    has_previews: bool
    has_evolution: bool


class Runs(Open):
    runs: list[RunFolder]


class Boundary(Open):
    step: int
    file: str
    run: str


class Metrics(Open):
    """The curves' records over the global step: a whole lineage unless one run was asked for;
    each record names its ``run``, ``boundaries`` marks where each file's training starts."""

    run: str | None
    lineage_id: int | None = None
    runs: list[Obj] = []
    boundaries: list[Boundary] = []
    records: list[Obj]


class EvalSummary(Open):
    id: int
    created_at: float
    version: str | None
    benchmark: str
    n: int | None
    is_baseline: bool
    headline: Obj  # {metric, value}


class Live(Open):
    run: str | None
    latest: Obj | None
    trend: list[Obj]
    evals: list[EvalSummary]
    status_examples: list[Obj]


class Evolution(Open):
    run: str | None
    headline: str | None = None
    steps: list[int]
    scores: list[Obj] = []
    probes: list[Obj]


class DiffOp(Open):
    op: str  # equal | insert | delete | replace
    a: str
    b: str


class EvolutionDiff(Open):
    run: str
    probe: str
    a: int
    b: int
    similarity: float
    ops: list[DiffOp]


class EvalPoint(Open):
    id: int
    created_at: float
    version: str | None
    model_ref: str | None
    n: int | None
    metric: str | None
    value: float | None
    tiers: dict[str, float | None]


class Benchmark(Open):
    benchmark: str
    baseline: EvalPoint | None
    history: list[EvalPoint]
    tiers: list[str]


class Evals(Open):
    benchmarks: list[Benchmark]


class Versions(Open):
    versions: list[Obj]  # store.versions.Version.to_dict()


class ReportFile(Open):
    name: str
    size: int
    mtime: float


class Reports(Open):
    reports: list[ReportFile]


class Events(Open):
    events: list[Event]


class Alerts(Open):
    alerts: list[Alert]


class Curve(Open):
    """``mentor.analysis.curve_data.curve_data``: series, boundaries, eval points, verdicts."""

    runs: list[Obj]
    series: dict[str, Obj]
    boundaries: list[Obj]
    evals: list[Obj]
    analysis: Obj


class Business(Open):
    """``mentor.analysis.costs.business``: cost, ROI per dataset, improvement, production."""

    cost: Obj
    roi: list[Obj]
    improvement: list[Obj]
    production: Obj | None


class CompareModels(Open):
    models: list[str]
    benchmarks: list[str]


class Compare(Open):
    """``mentor.analysis.compare.compare_data``: per task and tier, each metric's means,
    difference, paired test, interval, detectable effect and winner; the verdict lines."""

    a: Obj
    b: Obj
    tasks: list[Obj]
    overall: dict[str, Obj]
    p_value: dict[str, float | None]
    verdict: list[str]
