"""What guards the API: the request size cap, the concurrency cap and the per-route metrics.

:class:`Guard` is a pure ASGI middleware, so it sees every request before FastAPI parses it and a
streamed answer until its last byte: it refuses a body over ``serve.max_request_bytes`` (413,
whether declared or streamed) and counts requests and latency by route template and status.
:func:`generation_slot` is a dependency of the generating routes: beyond
``serve.max_concurrency`` requests in flight it answers 429 with ``Retry-After: 1``, and it holds
its slot until the response (a stream included) has been sent. It runs after the key check, so
a caller without a key gets 401, never 429.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from mentor.serve.errors import ApiError, error_body
from mentor.serve.metrics import ServeMetrics
from mentor.serve.state import State

Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]
ASGIApp = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


def route_label(scope: dict[str, Any]) -> str:
    """The matched route's path template (``/generate``, ``/api/dash/live``), else ``other``:
    a bounded set of labels, whatever paths clients make up."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "other"


class Guard:
    def __init__(self, app: ASGIApp, *, max_bytes: int, metrics: ServeMetrics) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            error_body(
                f"request body over serve.max_request_bytes ({self.max_bytes} bytes)",
                "invalid_request_error",
                "request_too_large",
            )
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _read_body(self, scope: dict[str, Any], receive: Receive) -> bytes | None:
        """The whole body; None when it is over the cap (declared or as it arrives).

        Raises :class:`ClientGone` when the client disconnects before sending all of it.
        """
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            body = await self._read_body(scope, receive)
        except ClientGone:
            return  # nobody to answer
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            if body is None:
                await self._too_large(send_seen)
            else:
                await self.app(scope, replay, send_seen)
        finally:
            route = route_label(scope)
            self.metrics.requests.labels(route=route, status=str(status)).inc()
            self.metrics.latency.labels(route=route).observe(time.perf_counter() - t0)


async def generation_slot(st: State) -> AsyncIterator[None]:
    """One of ``serve.max_concurrency`` slots for a generating request, or 429 at once."""
    cap = st.cfg.serve.max_concurrency
    if st.in_flight >= cap:
        st.metrics.rejected.inc()
        raise ApiError(
            429,
            f"server busy: {cap} requests in flight (serve.max_concurrency)",
            type="rate_limit_error",
            code="too_many_requests",
            headers={"Retry-After": "1"},
        )
    st.in_flight += 1
    try:
        yield
    finally:
        st.in_flight -= 1
