"""Request and response bodies of the REST API (pydantic), so the OpenAPI schema describes each.

Unknown request fields are accepted and ignored (the ``openai`` client sends more than mentor
reads). Every route answers errors in one shape (:class:`ErrorBody`); :func:`errors` lists the
statuses a route can refuse with, for its OpenAPI entry.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Stop = str | list[str] | None
MAX_STOPS = 16
MAX_STOP_CHARS = 256


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class GenerateBody(Body):
    prompt: str = Field(min_length=1, description="The user turn (templated unless raw).")
    max_tokens: int | None = Field(None, ge=1, description="New-token limit (<= serve.max_tokens).")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 = greedy.")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: Stop = None
    model: str = Field("serving", max_length=200, description="base, current, serving or vNNN.")
    raw: bool = Field(False, description="Send the prompt as is, without the chat template.")
    seed: int | None = Field(None, description="Sampling seed: same seed and settings, same text.")


class TextPart(Body):
    type: Literal["text"]
    text: str


class ChatMessage(Body):
    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class OpenAIBody(Body):
    model: str | None = Field(None, max_length=200)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: Stop = None
    n: int = Field(1, ge=1)
    stream: bool = False
    seed: int | None = Field(
        None,
        description="Sampling seed (temperature > 0): the same seed and request give the same text.",
    )


class ChatBody(OpenAIBody):
    messages: list[ChatMessage] = Field(min_length=1)
    logprobs: bool | None = Field(None, description="Not supported: true is refused with 400.")
    top_logprobs: int | None = Field(None, description="Not supported: refused with 400.")


class CompletionBody(OpenAIBody):
    prompt: str | list[str] = Field(
        description="One prompt, or a list (one choice per prompt, at most serve.max_batch)."
    )
    logprobs: int | None = Field(None, description="Not supported: a value is refused with 400.")
    echo: bool = Field(False, description="Not supported: true is refused with 400.")


# -- responses ------------------------------------------------------------------------------
FinishReason = Literal["stop", "length"]


def _absent_when_none(value: object) -> bool:
    """Leave the field out of the JSON when None (a chunk's delta and usage, as OpenAI sends)."""
    return value is None


class ErrorDetail(BaseModel):
    message: str
    type: str = Field(description="OpenAI-style: invalid_request_error, authentication_error, ...")
    code: str | None = Field(description="A stable identifier of the refusal.")


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_STATUSES = {
    400: "Invalid request (the message names the field or setting to fix).",
    401: "Missing or wrong API key.",
    404: "Unknown model or version.",
    413: "Request body over serve.max_request_bytes.",
    429: "serve.max_concurrency requests in flight; retry after Retry-After seconds.",
    500: "Internal error (logged by the server).",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each status it can refuse with, and ``default`` for any
    other, all in the one error shape (validation errors are 400, never FastAPI's 422)."""
    out: dict[int | str, dict[str, Any]] = {
        s: {"model": ErrorBody, "description": ERROR_STATUSES[s]} for s in statuses
    }
    out["default"] = {"model": ErrorBody, "description": "Any other error, in the same shape."}
    return out


class GenerateResponse(BaseModel):
    text: str
    model: str = Field(description="The model that answered: base, vNNN_..., current@<stamp>.")
    tokens: int = Field(description="New tokens generated.")
    prompt_tokens: int
    finish_reason: FinishReason
    latency_ms: float


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = Field(None, exclude_if=_absent_when_none)
    content: str | None = Field(None, exclude_if=_absent_when_none)


class ChatChunkChoice(BaseModel):
    index: int = 0
    delta: ChatDelta
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed chat completion; the last carries ``usage``."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = Field(None, exclude_if=_absent_when_none)


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    logprobs: None = None
    finish_reason: FinishReason | None


class Completion(BaseModel):
    """A text completion, or one server-sent event of a streamed one (the last with ``usage``)."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = Field(None, exclude_if=_absent_when_none)


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "mentor"
    loaded: bool | None = Field(None, description="Whether its weights are in memory now.")
    version: str | None = Field(None, description="For `serving`: the version it stands for.")
    aliases: list[str] | None = Field(
        None, description="Other names of the same model (a version's directory name)."
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Health(BaseModel):
    """``status`` for anyone; the rest only with a valid key (or when no key is configured)."""

    status: Literal["ok", "starting"]
    serving_version: str | None = None
    queue_depth: int | None = None
    in_flight: int | None = None
    adapters_loaded: list[str] | None = None


def sse_schema(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry of a route that streams ``model`` chunks with ``stream: true``."""
    return {
        200: {
            "description": "JSON, or with `stream: true` server-sent events: "
            f"`data: {{{model.__name__}}}` per chunk, then `data: [DONE]`.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
