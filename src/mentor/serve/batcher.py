"""Request batching: a queue and one worker thread that owns the models.

Handlers submit jobs; the worker takes the first waiting job, gathers more for up to
``serve.batch_wait_ms`` (or until ``serve.max_batch``) and hands the batch to the
:class:`~mentor.engine.pool.ModelPool`, one engine call per base model. Streams are generated one
at a time by the same thread (the engine streams a single request), so only this thread ever
loads, switches or evicts adapters. It stays in ``serve``: it exists to gather concurrent HTTP
requests; the CLI asks the pool directly.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.engine import GenRequest, GenResult
from mentor.engine.pool import ModelPool, Resolved, seeded

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Job:
    resolved: Resolved
    request: GenRequest
    future: Future[GenResult] = field(default_factory=Future)
    on_delta: Callable[[str], None] | None = None  # set for streams
    seed: int | None = None  # a sampled request's own seed (run alone, reproducible)
    cancelled: threading.Event = field(default_factory=threading.Event)
    enqueued: float = field(default_factory=time.perf_counter)

    @property
    def stream(self) -> bool:
        return self.on_delta is not None


BatchHook = Callable[[int, int, float], None]  # (requests, new tokens, seconds)


class Batcher:
    def __init__(
        self,
        pool: ModelPool,
        *,
        max_batch: int,
        wait_ms: float,
        on_batch: BatchHook | None = None,
    ) -> None:
        self.pool = pool
        self.max_batch = max_batch
        self.wait = wait_ms / 1000.0
        self.on_batch = on_batch
        self.q: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._busy = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="mentor-serve-batcher", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is not None:
            self.q.put(None)
            self._thread.join(timeout)
            self._thread = None

    @property
    def depth(self) -> int:
        """Jobs waiting plus jobs being generated."""
        return self.q.qsize() + self._busy

    # -- submission (any thread) ----------------------------------------------------------------
    def submit(
        self,
        resolved: Resolved,
        request: GenRequest,
        on_delta: Callable[[str], None] | None = None,
        *,
        seed: int | None = None,
    ) -> Job:
        """Queue one generation; with ``on_delta`` it is streamed (text deltas as they come).

        The job holds its adapter from now until it is answered, so the pool never evicts it.
        """
        job = Job(resolved, request, on_delta=on_delta, seed=seed)
        self.pool.acquire(resolved)
        self.q.put(job)
        return job

    # -- the worker -----------------------------------------------------------------------------
    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self.q.get()
            if first is None:
                break
            batch: list[Job] = []
            streams: list[Job] = []
            (streams if first.stream else batch).append(first)
            deadline = time.perf_counter() + self.wait
            while len(batch) < self.max_batch:
                left = deadline - time.perf_counter()
                try:
                    job = self.q.get(timeout=left) if left > 0 else self.q.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                (streams if job.stream else batch).append(job)
            if batch:
                self._busy = len(batch)
                self._run_batch(batch)
            for job in streams:
                self._busy = 1
                self._run_stream(job)
            self._busy = 0
        # fail whatever is left
        while True:
            try:
                job = self.q.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._finish(job, error=RuntimeError("server shutting down"))

    def _finish(
        self, job: Job, result: GenResult | None = None, error: BaseException | None = None
    ) -> None:
        self.pool.release(job.resolved)
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            assert result is not None
            job.future.set_result(result)

    def _run_batch(self, batch: list[Job]) -> None:
        live = [j for j in batch if not j.cancelled.is_set()]
        for j in batch:
            if j.cancelled.is_set():
                self._finish(j, error=RuntimeError("cancelled"))
        by_base: dict[Path, list[Job]] = {}
        for j in live:
            by_base.setdefault(j.resolved.base, []).append(j)
        for jobs in by_base.values():
            t0 = time.perf_counter()
            try:
                results = self.pool.generate(
                    [(j.resolved, j.request) for j in jobs], [j.seed for j in jobs]
                )
            except BaseException as err:  # reported to every request of the group
                log.warning("batch of %d failed: %s", len(jobs), err)
                for j in jobs:
                    self._finish(j, error=err)
                continue
            dt = time.perf_counter() - t0
            for j, res in zip(jobs, results, strict=True):
                self._finish(j, result=res)
            if self.on_batch is not None:
                self.on_batch(len(jobs), sum(r.new_tokens for r in results), dt)

    def _run_stream(self, job: Job) -> None:
        if job.cancelled.is_set():
            self._finish(job, error=RuntimeError("cancelled"))
            return
        t0 = time.perf_counter()
        assert job.on_delta is not None
        try:
            engine = self.pool.prepare(job.resolved)
            job.request.adapter = job.resolved.key
            parts: list[str] = []
            with seeded(engine, job.seed):
                gen = engine.stream(job.request)
                counted: GenResult | None = None
                try:
                    while not job.cancelled.is_set():
                        try:
                            delta = next(gen)
                        except StopIteration as done:  # the engine's own token counts
                            counted = done.value
                            break
                        parts.append(delta)
                        job.on_delta(delta)
                finally:
                    close = getattr(gen, "close", None)
                    if close is not None:
                        close()
            text = "".join(parts)
            result = counted or _counted(engine.tokenizer, job.request, text)
        except BaseException as err:
            log.warning("stream failed: %s", err)
            self._finish(job, error=err)
            return
        self._finish(job, result=result)
        if self.on_batch is not None:
            self.on_batch(1, result.new_tokens, time.perf_counter() - t0)


def _counted(tokenizer: Any, request: GenRequest, text: str) -> GenResult:
    """A streamed result whose engine did not count its tokens (a cut stream): count the text."""
    prompt_tokens = len(tokenizer(request.prompt, add_special_tokens=False)["input_ids"])
    new_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0
    finish = "length" if new_tokens >= request.max_new_tokens else "stop"
    return GenResult(text, prompt_tokens, new_tokens, finish)
