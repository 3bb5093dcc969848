"""Accuracy per tier of the newest evaluated version at a point in time, and its gain per tier
over the untrained baseline on the same items (stored eval items; nothing is generated)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mentor.analysis import sources
from mentor.config import Config
from mentor.paths import Workspace


def item_metric(cfg: Config) -> str:
    """The per-item metric behind ``report.headline_metric`` (``quick.solved`` -> ``solved``)."""
    return cfg.report.headline_metric.rsplit(".", 1)[-1]


@dataclass
class TierAccuracy:
    version: str | None
    metric: str
    as_of: float
    tiers: dict[str, float] = field(default_factory=dict)  # tier -> mean metric
    n: dict[str, int] = field(default_factory=dict)
    gain: dict[str, float] = field(default_factory=dict)  # over the baseline, same items

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _means(scores: dict[str, tuple[str, float]]) -> tuple[dict[str, float], dict[str, int]]:
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for tier, v in scores.values():
        sums[tier] = sums.get(tier, 0.0) + v
        counts[tier] = counts.get(tier, 0) + 1
    return {t: sums[t] / counts[t] for t in sorted(sums)}, counts


def tier_accuracy(ws: Workspace, cfg: Config, until: float) -> TierAccuracy:
    """Per tier: the newest version's ``metric`` on the benchmarks of ``eval.benchmarks``."""
    metric = item_metric(cfg)
    out = TierAccuracy(None, metric, until)
    rows = [
        r
        for r in sources.evals(ws, include_baseline=False)
        if r.created_at < until and r.version and r.benchmark in cfg.eval.benchmarks
    ]
    if not rows:
        return out
    version = rows[0].version  # newest first
    latest: dict[str, Any] = {}
    for r in rows:
        if r.version == version and r.benchmark not in latest:
            latest[r.benchmark] = r
    mine: dict[str, tuple[str, float]] = {}
    base: dict[str, tuple[str, float]] = {}
    for name, row in latest.items():
        items = sources.eval_items(ws, row.id)
        for iid, it in items.items():
            if metric in it.scores:
                mine[f"{name}/{iid}"] = (it.tier or "all", float(it.scores[metric]))
        for b in sources.evals(ws, benchmark=name, bench_version=row.bench_version):
            if not b.is_baseline or b.created_at >= until:
                continue
            for iid, it in sources.eval_items(ws, b.id).items():
                key = f"{name}/{iid}"
                if key in mine and metric in it.scores:
                    base[key] = (it.tier or "all", float(it.scores[metric]))
            break
    out.version = version
    out.tiers, out.n = _means(mine)
    if base:
        paired = {k: mine[k] for k in base}
        mean_m, _ = _means(paired)
        mean_b, _ = _means(base)
        out.gain = {t: mean_m[t] - mean_b[t] for t in mean_m if t in mean_b}
    return out


def lagging_tier(acc: TierAccuracy, share: float) -> tuple[str, float, float] | None:
    """(tier, its gain, the other tiers' mean gain) when one tier gained less than ``share`` of
    the others' mean gain over the baseline (and they did gain): ``report.lagging_share``."""
    if len(acc.gain) < 2:
        return None
    worst = min(acc.gain, key=lambda t: acc.gain[t])
    others = [g for t, g in acc.gain.items() if t != worst]
    mean_others = sum(others) / len(others)
    if mean_others > 0 and acc.gain[worst] < share * mean_others:
        return worst, acc.gain[worst], mean_others
    return None
