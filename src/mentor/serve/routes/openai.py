"""The OpenAI-compatible routes: chat and text completions (JSON or server-sent events), models.

The ``openai`` client works unchanged against them. Chat messages go through the one chat
template; ``/v1/completions`` sends its prompt as is (untemplated), as OpenAI's does.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from mentor.engine.base import GenRequest, GenResult
from mentor.engine.pool import Resolved, canonical
from mentor.serve.errors import ApiError
from mentor.serve.generation import complete, finish_reason, fit, max_tokens, stops, stream, usage
from mentor.serve.guard import generation_slot
from mentor.serve.schemas import (
    AssistantMessage,
    ChatBody,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatDelta,
    Completion,
    CompletionBody,
    CompletionChoice,
    ModelCard,
    ModelList,
    Usage,
    errors,
    sse_schema,
)
from mentor.serve.state import ServeState, State

router = APIRouter(prefix="/v1", tags=["openai"])
GENERATING = [Depends(generation_slot, scope="request")]
REFUSALS = errors(400, 404, 413, 429, 500)


def _unsupported(body: ChatBody | CompletionBody) -> None:
    """Options mentor does not implement are refused, never silently ignored."""
    if body.n != 1:
        raise ApiError(400, "n: only n=1 is supported", code="unsupported_n")
    asked = []
    if isinstance(body, ChatBody):
        if body.logprobs:
            asked.append("logprobs")
        if body.top_logprobs is not None:
            asked.append("top_logprobs")
    else:
        if body.logprobs is not None:
            asked.append("logprobs")
        if body.echo:
            asked.append("echo")
    if asked:
        raise ApiError(
            400,
            f"{', '.join(asked)}: not supported by this server (leave it out)",
            code="unsupported_parameter",
        )


def _request(
    st: ServeState, resolved: Resolved, body: ChatBody | CompletionBody, prompt: str
) -> GenRequest:
    """The generation of ``prompt``, fitted to the model's context (see ``fit``)."""
    req = GenRequest(
        prompt,
        max_new_tokens=max_tokens(st.cfg, body.max_completion_tokens, body.max_tokens),
        temperature=body.temperature if body.temperature is not None else 0.0,
        top_p=body.top_p if body.top_p is not None else 1.0,
        stop=stops(body.stop),
    )
    return fit(st, resolved, req)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={**REFUSALS, **sse_schema(ChatCompletionChunk)},
    dependencies=GENERATING,
)
async def chat_completions(body: ChatBody, st: State) -> ChatCompletion | StreamingResponse:
    """A chat completion; with ``stream: true`` server-sent ``chat.completion.chunk`` events."""
    if body.messages[-1].role != "user":
        raise ApiError(
            400, "messages: the last message must be the user's", code="invalid_messages"
        )
    _unsupported(body)
    resolved = st.resolver.resolve(body.model)
    prompt = st.prompt([{"role": m.role, "content": m.text()} for m in body.messages])
    req = _request(st, resolved, body, prompt)
    cid, created, name = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), resolved.name
    if body.stream:

        def chunk(delta: str | None, final: GenResult | None) -> ChatCompletionChunk:
            if final is not None:
                choice = ChatChunkChoice(delta=ChatDelta(), finish_reason=finish_reason(final))
            elif delta is None:  # the opening chunk names the role
                choice = ChatChunkChoice(
                    delta=ChatDelta(role="assistant", content=""), finish_reason=None
                )
            else:
                choice = ChatChunkChoice(delta=ChatDelta(content=delta), finish_reason=None)
            out = ChatCompletionChunk(id=cid, created=created, model=name, choices=[choice])
            if final is not None:
                out.usage = usage(final)
            return out

        return stream(st, resolved, req, chunk, body.seed)
    res = await complete(st, resolved, req, body.seed)
    choice = ChatChoice(
        message=AssistantMessage(content=res.text), finish_reason=finish_reason(res)
    )
    return ChatCompletion(id=cid, created=created, model=name, choices=[choice], usage=usage(res))


@router.post(
    "/completions",
    response_model=Completion,
    responses={**REFUSALS, **sse_schema(Completion)},
    dependencies=GENERATING,
)
async def completions(body: CompletionBody, st: State) -> Completion | StreamingResponse:
    """Text completions of raw prompts (one string, or a list: one choice per prompt, in
    order); with ``stream: true`` (one prompt) server-sent events."""
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    cap = st.cfg.serve.max_batch
    if not prompts or any(not p for p in prompts) or len(prompts) > cap:
        raise ApiError(
            400,
            f"prompt: a non-empty string or a list of 1 to {cap} (serve.max_batch) of them",
            code="invalid_prompt",
        )
    if body.stream and len(prompts) > 1:
        raise ApiError(400, "stream: one prompt at a time", code="invalid_prompt")
    _unsupported(body)
    resolved = st.resolver.resolve(body.model)
    reqs = [_request(st, resolved, body, p) for p in prompts]  # raw text: untemplated
    cid, created, name = f"cmpl-{uuid.uuid4().hex}", int(time.time()), resolved.name

    def make(choices: list[CompletionChoice], results: list[GenResult]) -> Completion:
        out = Completion(id=cid, created=created, model=name, choices=choices)
        if results:
            out.usage = Usage(
                prompt_tokens=sum(r.prompt_tokens for r in results),
                completion_tokens=sum(r.new_tokens for r in results),
                total_tokens=sum(r.prompt_tokens + r.new_tokens for r in results),
            )
        return out

    if body.stream:

        def chunk(delta: str | None, final: GenResult | None) -> Completion:
            reason = finish_reason(final) if final is not None else None
            choice = CompletionChoice(text=delta or "", finish_reason=reason)
            return make([choice], [final] if final is not None else [])

        return stream(st, resolved, reqs[0], chunk, body.seed)
    results = await asyncio.gather(*(complete(st, resolved, r, body.seed) for r in reqs))
    choices = [
        CompletionChoice(index=i, text=r.text, finish_reason=finish_reason(r))
        for i, r in enumerate(results)
    ]
    return make(choices, list(results))


@router.get("/models", response_model=ModelList, response_model_exclude_none=True)
async def models(st: State) -> ModelList:
    """``base``, ``serving`` (with the version it stands for), ``current`` once trained, and
    every version once, by its id ``vNNN`` (its folder name listed as an alias), with whether
    it is loaded."""
    loaded = set(st.pool.loaded())
    created = int(time.time())
    serving = st.resolver.serving_name()
    data = [
        ModelCard(id="base", created=created, loaded=True),
        ModelCard(id="serving", created=created, version=canonical(serving or "base")),
    ]
    if (st.ws.current / "adapter_config.json").is_file():
        data.append(ModelCard(id="current", created=created))
    by_id: dict[str, list[str]] = {}
    for folder in st.resolver.versions():  # one row per version: its id, the folder an alias
        by_id.setdefault(canonical(folder), []).append(folder)
    data += [
        ModelCard(id=v, created=created, loaded=v in loaded, aliases=folders)
        for v, folders in by_id.items()
    ]
    return ModelList(data=data)
