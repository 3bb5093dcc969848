"""A replay engine: returns prepared answers instead of generating (a test double).

It proves the scoring path end to end (the golden answers of a file must score 1.0 through
``mentor eval --data FILE``) without a model. :func:`replay_backend` registers it as engine
backend ``replay`` for the duration of a test (``mentor eval --backend replay``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mentor.data.chat import ChatRenderer
from mentor.engine import BACKENDS, GenRequest, GenResult, register_backend
from mentor.engine.base import GenerationInterrupted, Interrupt, trim_at_stop
from mentor.errors import ConfigError
from mentor.evals.tasks import items_from_rows


class ReplayEngine:
    """Answers each templated prompt with its prepared text ('' for an unknown prompt)."""

    def __init__(self, answers: dict[str, str], tokenizer: Any, renderer: ChatRenderer) -> None:
        self.answers = answers  # templated prompt -> answer text
        self.tokenizer = tokenizer
        self.renderer = renderer
        self.device = "cpu"
        self.calls: list[int] = []  # size of every generate() call
        self.adapters: list[str | None] = []  # the adapter of every request

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
        self.calls.append(len(requests))
        self.adapters += [r.adapter for r in requests]
        out = [self._one(r) for r in requests]
        if progress is not None:
            progress(len(out))
        return out

    def stream(self, request: GenRequest) -> Generator[str, None, GenResult | None]:
        result = self._one(request)
        yield result.text
        return result

    def load_adapter(self, name: str, path: Path) -> None:
        raise ConfigError("backend 'replay' replays fixed answers and loads no adapters")

    def unload_adapter(self, name: str) -> None:
        return None

    def nll(
        self, batch: dict[str, Any], *, adapter: str | None = None
    ) -> tuple[list[float], list[int]]:
        raise ConfigError("backend 'replay' has no model to score token likelihoods")


@contextmanager
def replay_backend(rows: list[dict[str, Any]]) -> Iterator[list[int]]:
    """Backend ``replay`` answering every prompt of ``rows`` with its golden, for the ``with``
    block. Yields the sizes of all generate() calls of every engine it builds, in order."""
    calls: list[int] = []

    def factory(model_path: Path, adapter: Path | None, cfg: Any, **options: Any) -> ReplayEngine:
        from mentor.models.loader import load_tokenizer

        tok = load_tokenizer(model_path)
        renderer = ChatRenderer.from_config(tok, cfg.chat)
        answers = {
            renderer.prompt(it.prompt_messages): it.golden or "" for it in items_from_rows(rows)
        }
        eng = ReplayEngine(answers, tok, renderer)
        eng.calls = calls
        return eng

    register_backend("replay", factory)
    try:
        yield calls
    finally:
        BACKENDS.pop("replay", None)
