"""Request bodies of the REST API (pydantic). Unknown OpenAI fields are accepted and ignored."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Stop = str | list[str] | None
MAX_STOPS = 16


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


class ChatBody(OpenAIBody):
    messages: list[ChatMessage] = Field(min_length=1)


class CompletionBody(OpenAIBody):
    prompt: str | list[str]
