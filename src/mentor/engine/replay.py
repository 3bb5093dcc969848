"""A replay engine: returns prepared answers instead of generating. For tests only.

It proves the scoring path end to end (the golden answers of a file must score 1.0 through
``mentor eval --data FILE``) without a model. It is not registered by default; a test registers
it with :func:`mentor.engine.register_backend` and selects it with ``backend="replay"``
(``mentor eval --backend replay``). Nothing in mentor's own code paths uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mentor.data.chat import ChatRenderer
from mentor.engine.base import GenerationInterrupted, GenRequest, GenResult, Interrupt, trim_at_stop
from mentor.errors import ConfigError


class ReplayEngine:
    def __init__(self, answers: dict[str, str], tokenizer: Any, renderer: ChatRenderer) -> None:
        self.answers = answers  # templated prompt -> answer text
        self.tokenizer = tokenizer
        self.renderer = renderer
        self.device = "cpu"

    def _one(self, r: GenRequest) -> GenResult:
        text = self.answers.get(r.prompt, "")
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        finish = "stop"
        if len(ids) > r.max_new_tokens:
            text, finish = self.tokenizer.decode(ids[: r.max_new_tokens]), "length"
        text, _ = trim_at_stop(text, r.stop)
        prompt_tokens = len(self.tokenizer(r.prompt, add_special_tokens=False)["input_ids"])
        return GenResult(text, prompt_tokens, min(len(ids), r.max_new_tokens), finish)

    def generate(
        self,
        requests: list[GenRequest],
        *,
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
        interrupt: Interrupt | None = None,
    ) -> list[GenResult]:
        if interrupt is not None and interrupt():
            raise GenerationInterrupted("generation interrupted")
        out = [self._one(r) for r in requests]
        if progress is not None:
            progress(len(out))
        return out

    def stream(self, request: GenRequest) -> Iterator[str]:
        yield self._one(request).text

    def load_adapter(self, name: str, path: Path) -> None:
        raise ConfigError("backend 'replay' replays fixed answers and loads no adapters")

    def unload_adapter(self, name: str) -> None:
        return None
