"""Prometheus metrics of one app (a registry per app: no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ServeMetrics:
    def __init__(self) -> None:
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
