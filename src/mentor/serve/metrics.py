"""Prometheus metrics of one app (a registry per app: no process-global state).

:meth:`ServeMetrics.write_snapshot` also leaves a small JSON summary of them in the workspace
(``status/serve_metrics.json``, written atomically every ``report.serve_snapshot_seconds``), so
the daily report and ``mentor summary`` show production latency and throughput without calling
the server.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mentor.paths import atomic_write_json

#: routes left out of the production figures: probes and scrapes, not users' requests
NOT_TRAFFIC = ("/metrics", "/health")

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ServeMetrics:
    def __init__(self) -> None:
        self.started_at = time.time()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "mentor_serve_requests",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "mentor_serve_request_seconds",
            "Request latency by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("mentor_serve_generated_tokens", "New tokens generated.", registry=r)
        self.tokens_per_s = Gauge(
            "mentor_serve_tokens_per_second", "New tokens per second of the last batch.", registry=r
        )
        self.batch_size = Histogram(
            "mentor_serve_batch_size",
            "Requests per generation batch.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.queue_depth = Gauge(
            "mentor_serve_queue_depth", "Requests waiting or being generated.", registry=r
        )
        self.in_flight = Gauge(
            "mentor_serve_in_flight", "Generation requests in flight.", registry=r
        )
        self.rejected = Counter(
            "mentor_serve_rejected", "Requests refused by the concurrency cap.", registry=r
        )
        self.serving = Gauge(
            "mentor_serve_serving_version",
            "The version served by default (value 1).",
            ["version"],
            registry=r,
        )
        self.adapters = Gauge("mentor_serve_adapters_loaded", "Adapters in the pool.", registry=r)

    def on_batch(self, n: int, new_tokens: int, seconds: float) -> None:
        self.batch_size.observe(n)
        self.tokens.inc(new_tokens)
        if seconds > 0:
            self.tokens_per_s.set(new_tokens / seconds)

    def set_serving(self, version: str) -> None:
        self.serving.clear()
        self.serving.labels(version=version).set(1)

    # -- the snapshot for reports ----------------------------------------------------------------
    def _samples(self) -> list[tuple[str, dict[str, str], float]]:
        return [
            (s.name, dict(s.labels), s.value) for m in self.registry.collect() for s in m.samples
        ]

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """Counters since the server started, latency quantiles, throughput (JSON-able)."""
        now = time.time() if now is None else now
        samples = self._samples()
        by_status: dict[str, float] = {}
        buckets: dict[float, float] = {}
        lat_sum = lat_count = 0.0
        for name, labels, value in samples:
            if labels.get("route") in NOT_TRAFFIC:
                continue
            if name == "mentor_serve_requests_total":
                by_status[labels["status"]] = by_status.get(labels["status"], 0.0) + value
            elif name == "mentor_serve_request_seconds_bucket":
                le = float(labels["le"])
                buckets[le] = buckets.get(le, 0.0) + value
            elif name == "mentor_serve_request_seconds_sum":
                lat_sum += value
            elif name == "mentor_serve_request_seconds_count":
                lat_count += value
        single = {name: value for name, labels, value in samples if not labels}
        uptime = max(now - self.started_at, 1e-9)
        tokens = single.get("mentor_serve_generated_tokens_total", 0.0)
        requests = sum(by_status.values())
        errors = sum(v for k, v in by_status.items() if k[:1] in ("4", "5"))
        return {
            "written_at": now,
            "started_at": self.started_at,
            "uptime_s": round(uptime, 3),
            "requests": int(requests),
            "errors": int(errors),
            "by_status": {k: int(v) for k, v in sorted(by_status.items())},
            "rejected": int(single.get("mentor_serve_rejected_total", 0.0)),
            "latency_mean_s": lat_sum / lat_count if lat_count else None,
            "latency_p50_s": quantile(buckets, 0.5),
            "latency_p95_s": quantile(buckets, 0.95),
            "generated_tokens": int(tokens),
            "tokens_per_s_last_batch": single.get("mentor_serve_tokens_per_second"),
            "tokens_per_s_avg": tokens / uptime,
            "requests_per_s_avg": requests / uptime,
        }

    def write_snapshot(self, path: Path) -> dict[str, Any]:
        snap = self.snapshot()
        atomic_write_json(path, snap)
        return snap


def quantile(buckets: dict[float, float], q: float) -> float | None:
    """A quantile from cumulative histogram buckets (upper bound -> count), interpolated
    linearly inside the bucket as Prometheus' ``histogram_quantile`` does."""
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for b in bounds:
        count = buckets[b]
        if count >= rank:
            if math.isinf(b):  # beyond the last finite bound: report that bound
                return prev_bound
            if count == prev_count:
                return b
            return prev_bound + (b - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = b, count
    return prev_bound
