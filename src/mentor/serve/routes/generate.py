"""``POST /generate``: mentor's own endpoint, one prompt templated as the user turn."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends

from mentor.engine.base import GenRequest
from mentor.serve.generation import complete, finish_reason, fit, max_tokens, stops
from mentor.serve.guard import generation_slot
from mentor.serve.schemas import GenerateBody, GenerateResponse, errors
from mentor.serve.state import State

router = APIRouter(tags=["generation"])


@router.post(
    "/generate",
    response_model=GenerateResponse,
    responses=errors(400, 404, 413, 429, 500),
    dependencies=[Depends(generation_slot, scope="request")],
)
async def generate(body: GenerateBody, st: State) -> GenerateResponse:
    """Answer ``prompt`` (templated like training data unless ``raw``), greedy by default.
    ``max_tokens`` is clipped to the room the model's context leaves (``finish_reason:
    length`` when the answer stops there); a prompt that fills the context is a 400."""
    t0 = time.perf_counter()
    resolved = st.resolver.resolve(body.model)
    prompt = body.prompt if body.raw else st.prompt(body.prompt)
    req = GenRequest(
        prompt,
        max_new_tokens=max_tokens(st.cfg, body.max_tokens),
        temperature=body.temperature,
        top_p=body.top_p,
        stop=stops(body.stop),
    )
    res = await complete(st, resolved, fit(st, resolved, req), body.seed)
    return GenerateResponse(
        text=res.text,
        model=resolved.name,
        tokens=res.new_tokens,
        prompt_tokens=res.prompt_tokens,
        finish_reason=finish_reason(res),
        latency_ms=round((time.perf_counter() - t0) * 1000, 2),
    )
