"""From a parsed request to an answer: limits, the batch worker, server-sent events.

Shared by ``/generate`` and the OpenAI routes: the stop, ``max_tokens`` and context-length rules,
awaiting a job of the :class:`~mentor.serve.batcher.Batcher` (a client that goes away cancels it),
and a stream of text deltas as server-sent events (``data: {chunk}`` ... ``data: [DONE]``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from mentor.config import Config
from mentor.engine.base import GenRequest, GenResult
from mentor.engine.pool import PromptTooLong, Resolved, fit_context
from mentor.errors import MentorError
from mentor.serve.errors import ApiError, error_body
from mentor.serve.schemas import MAX_STOP_CHARS, MAX_STOPS, FinishReason, Stop, Usage
from mentor.serve.state import ServeState

#: A stream's chunk: ``(delta, None)`` for text (``None`` delta: the opening chunk), or
#: ``(None, result)`` for the closing one.
ChunkMaker = Callable[[str | None, GenResult | None], BaseModel]

_END = object()


def stops(stop: Stop) -> list[str]:
    found = [stop] if isinstance(stop, str) else list(stop or [])
    found = [s for s in found if s]
    if len(found) > MAX_STOPS or any(len(s) > MAX_STOP_CHARS for s in found):
        raise ApiError(
            400,
            f"stop: at most {MAX_STOPS} strings of at most {MAX_STOP_CHARS} characters",
            code="invalid_stop",
        )
    return found


def max_tokens(cfg: Config, *values: int | None) -> int:
    """The first value given, refused over ``serve.max_tokens``; ``serve.default_max_tokens``
    when none is."""
    asked = next((v for v in values if v is not None), None)
    cap = cfg.serve.max_tokens
    if asked is None:
        return min(cfg.serve.default_max_tokens, cap)
    if asked > cap:
        raise ApiError(
            400,
            f"max_tokens {asked} is over the server's cap of {cap} (serve.max_tokens)",
            code="max_tokens_too_large",
        )
    return asked


def fit(st: ServeState, resolved: Resolved, req: GenRequest) -> GenRequest:
    """``req`` made to fit the model's context: a prompt that fills it is a 400
    (``context_length_exceeded``, as OpenAI and vLLM answer); otherwise ``max_new_tokens`` is
    clipped to the room left, and a generation that reaches it ends with ``finish_reason:
    "length"``."""
    prompt_tokens = st.count_tokens(req.prompt)
    try:
        req.max_new_tokens = fit_context(
            prompt_tokens, req.max_new_tokens, st.pool.context_length(resolved)
        )
    except PromptTooLong as err:
        raise ApiError(400, str(err), code="context_length_exceeded") from None
    return req


def finish_reason(res: GenResult) -> FinishReason:
    return cast(FinishReason, res.finish_reason)


def usage(res: GenResult) -> Usage:
    return Usage(
        prompt_tokens=res.prompt_tokens,
        completion_tokens=res.new_tokens,
        total_tokens=res.prompt_tokens + res.new_tokens,
    )


async def complete(
    st: ServeState, resolved: Resolved, req: GenRequest, seed: int | None = None
) -> GenResult:
    """The answer of the batch worker; a cancelled request (client gone) cancels its job."""
    job = st.batcher.submit(resolved, req, seed=seed)
    try:
        return await asyncio.wrap_future(job.future)
    except asyncio.CancelledError:
        job.cancelled.set()
        raise


def _sse(obj: BaseModel | dict[str, Any]) -> bytes:
    if isinstance(obj, BaseModel):
        text = obj.model_dump_json()
    else:
        text = json.dumps(obj, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


def stream(
    st: ServeState,
    resolved: Resolved,
    req: GenRequest,
    chunk: ChunkMaker,
    seed: int | None = None,
) -> StreamingResponse:
    """Server-sent events: an opening chunk, one per text delta, a closing one, ``[DONE]``.

    A generation that fails midway sends one error event in the error shape before ``[DONE]``.
    """
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[Any] = asyncio.Queue()

    def on_delta(delta: str) -> None:
        loop.call_soon_threadsafe(q.put_nowait, delta)

    job = st.batcher.submit(resolved, req, on_delta, seed=seed)
    job.future.add_done_callback(lambda _f: loop.call_soon_threadsafe(q.put_nowait, _END))

    async def events() -> AsyncIterator[bytes]:
        try:
            yield _sse(chunk(None, None))
            while (item := await q.get()) is not _END:
                yield _sse(chunk(item, None))
            err = job.future.exception()
            if err is not None:
                msg = str(err) if isinstance(err, MentorError) else "generation failed"
                yield _sse(error_body(msg, "server_error", None))
            else:
                yield _sse(chunk(None, job.future.result()))
            yield b"data: [DONE]\n\n"
        finally:
            job.cancelled.set()

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )
