"""The OpenAI-compatible routes: chat and text completions (JSON or server-sent events), models.

The ``openai`` client works unchanged against them. Chat messages go through the one chat
template; ``/v1/completions`` sends its prompt as is (untemplated), as OpenAI's does.
"""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from mentor.engine.base import GenRequest, GenResult
from mentor.serve.errors import ApiError
from mentor.serve.generation import complete, finish_reason, max_tokens, stops, stream, usage
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
    errors,
    sse_schema,
)
from mentor.serve.state import ServeState, State

router = APIRouter(prefix="/v1", tags=["openai"])
GENERATING = [Depends(generation_slot, scope="request")]
REFUSALS = errors(400, 404, 413, 429, 500)


def _request(st: ServeState, body: ChatBody | CompletionBody, prompt: str) -> GenRequest:
    if body.n != 1:
        raise ApiError(400, "n: only n=1 is supported", code="unsupported_n")
    return GenRequest(
        prompt,
        max_new_tokens=max_tokens(st.cfg, body.max_completion_tokens, body.max_tokens),
        temperature=body.temperature if body.temperature is not None else 0.0,
        top_p=body.top_p if body.top_p is not None else 1.0,
        stop=stops(body.stop),
    )


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
    resolved = st.resolver.resolve(body.model)
    prompt = st.prompt([{"role": m.role, "content": m.text()} for m in body.messages])
    req = _request(st, body, prompt)
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

        return stream(st, resolved, req, chunk)
    res = await complete(st, resolved, req)
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
    """A text completion of one raw prompt; with ``stream: true`` server-sent events."""
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if len(prompts) != 1 or not prompts[0]:
        raise ApiError(400, "prompt: one non-empty string", code="invalid_prompt")
    resolved = st.resolver.resolve(body.model)
    req = _request(st, body, prompts[0])  # raw text: /v1/completions is untemplated
    cid, created, name = f"cmpl-{uuid.uuid4().hex}", int(time.time()), resolved.name

    def make(text: str, final: GenResult | None) -> Completion:
        reason = finish_reason(final) if final is not None else None
        out = Completion(
            id=cid,
            created=created,
            model=name,
            choices=[CompletionChoice(text=text, logprobs=None, finish_reason=reason)],
        )
        if final is not None:
            out.usage = usage(final)
        return out

    if body.stream:
        return stream(st, resolved, req, lambda delta, final: make(delta or "", final))
    res = await complete(st, resolved, req)
    return make(res.text, res)


@router.get("/models", response_model=ModelList, response_model_exclude_none=True)
async def models(st: State) -> ModelList:
    """``base``, ``serving`` (with the version it stands for), ``current`` once trained, and
    every version with whether it is loaded."""
    loaded = set(st.pool.loaded())
    created = int(time.time())
    data = [
        ModelCard(id="base", created=created, loaded=True),
        ModelCard(id="serving", created=created, version=st.resolver.serving_name() or "base"),
    ]
    if (st.ws.current / "adapter_config.json").is_file():
        data.append(ModelCard(id="current", created=created))
    data += [ModelCard(id=v, created=created, loaded=v in loaded) for v in st.resolver.versions()]
    return ModelList(data=data)
