"""What one API app holds (``app.state.mentor``), and the watch on the serving version.

Nothing module-global: each :func:`~mentor.serve.app.create_app` builds its own state, so tests
and benchmarks run several apps in one process. Routes get it through the :data:`State`
dependency.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from mentor.config import Config
from mentor.data.chat import ChatRenderer, Message
from mentor.engine.pool import ModelPool, Resolver
from mentor.paths import Workspace
from mentor.serve.auth import KeyCheck
from mentor.serve.batcher import Batcher
from mentor.serve.metrics import ServeMetrics

log = logging.getLogger(__name__)


@dataclass
class ServeState:
    ws: Workspace
    cfg: Config
    resolver: Resolver
    pool: ModelPool
    batcher: Batcher
    metrics: ServeMetrics
    keys: KeyCheck
    renderer: ChatRenderer | None = None  # the base engine's, set when it is loaded
    in_flight: int = 0
    serving_seen: str | None = None
    started: bool = False

    @classmethod
    def build(cls, ws: Workspace, cfg: Config) -> ServeState:
        metrics = ServeMetrics()
        resolver = Resolver(ws, cfg)
        pool = ModelPool(cfg, resolver.base)
        batcher = Batcher(
            pool,
            max_batch=cfg.serve.max_batch,
            wait_ms=cfg.serve.batch_wait_ms,
            on_batch=metrics.on_batch,
        )
        keys = KeyCheck(cfg.serve.api_keys, needed=bool(cfg.serve.api_keys))
        return cls(ws, cfg, resolver, pool, batcher, metrics, keys)

    def start(self) -> None:
        """Load the base model (before the worker exists: no race), then start the worker."""
        self.renderer = self.pool.start().renderer
        self.check_serving()
        self.started = True
        self.batcher.start()

    def prompt(self, messages: Sequence[Message] | str) -> str:
        """``messages`` in the chat template of the served model (the one training used)."""
        if self.renderer is None:
            raise RuntimeError("the server has not started: no model loaded yet")
        return self.renderer.prompt(messages)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` as the engine feeds it (no special tokens added)."""
        if self.renderer is None:
            raise RuntimeError("the server has not started: no model loaded yet")
        return len(self.renderer.tokenizer(text, add_special_tokens=False)["input_ids"])

    def check_serving(self) -> str | None:
        """Read kv ``serving_version`` now; log a change and set the metric."""
        version = self.resolver.serving.get(fresh=True)
        if version != self.serving_seen or not self.started:
            if self.started:
                log.info(
                    "serving version changed: %s -> %s",
                    self.serving_seen or "base",
                    version or "base",
                )
            self.serving_seen = version
            self.metrics.set_serving(version or "base")
        return version

    async def watch_serving(self) -> None:
        """Poll the serving version every ``serve.reload_seconds`` until cancelled; every
        ``report.serve_snapshot_seconds`` also write the production figures the reports read."""
        snap_at = time.monotonic()
        while True:
            await asyncio.sleep(self.cfg.serve.reload_seconds)
            try:
                await asyncio.to_thread(self.check_serving)
            except Exception as err:  # keep polling
                log.warning("serving version check failed: %s", err)
            if time.monotonic() - snap_at >= self.cfg.report.serve_snapshot_seconds:
                snap_at = time.monotonic()
                await asyncio.to_thread(self.write_snapshot)

    def write_snapshot(self) -> None:
        """``status/serve_metrics.json``: latency and throughput for the daily report."""
        try:
            self.metrics.write_snapshot(self.ws.serve_metrics_file)
        except OSError as err:
            log.warning("serve metrics snapshot not written: %s", err)


def get_state(request: Request) -> ServeState:
    st: ServeState = request.app.state.mentor
    return st


State = Annotated[ServeState, Depends(get_state)]
