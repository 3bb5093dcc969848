"""The engine protocol: the one way anything in mentor generates text.

Benchmarks, held-out tests, live previews, the CLI tester and the REST API all build their
prompts with :class:`~mentor.data.chat.ChatRenderer` and generate through an :class:`Engine`, so
a model is always asked with exactly the text it was trained on (DESIGN.md, principle 4).
Every engine serves ``adapter=BASE_ADAPTER`` as the bare weights it was loaded from, so the
untrained baseline of a version needs no second model when the version sits on the base.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from mentor.data.chat import ChatRenderer

#: ``GenRequest.adapter`` value that asks for the bare base model (adapters disabled).
BASE_ADAPTER = "__base__"

#: A temperature below this samples as greedy decoding does (its limit); dividing logits by
#: it would overflow float32 to inf and the sampler would fail (found by the API fuzz test).
GREEDY_BELOW = 1e-4


@dataclass
class GenRequest:
    """One generation. ``prompt`` is already templated text (``ChatRenderer.prompt``)."""

    prompt: str
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    adapter: str | None = None  # None = the engine's active adapter; BASE_ADAPTER = none

    def __post_init__(self) -> None:
        if self.temperature < GREEDY_BELOW:
            self.temperature = 0.0


@dataclass
class GenResult:
    text: str
    prompt_tokens: int
    new_tokens: int
    finish_reason: str  # "stop" | "length"


class GenerationInterrupted(Exception):
    """``generate`` was cut by its ``interrupt`` callable; the partial outputs are dropped.

    Not a user error: the caller asked for the cut (a pause or stop during an evaluation)
    and runs the work again later.
    """


#: checked before every batch and after every decode step; True cuts the generation
Interrupt = Callable[[], bool]


@runtime_checkable
class Engine(Protocol):
    tokenizer: Any
    renderer: ChatRenderer
    device: str

    def generate(
        self,
        requests: list[GenRequest],
        *,
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
        interrupt: Interrupt | None = None,
    ) -> list[GenResult]:
        """Results in request order; ``progress(n)`` is called with the count just finished.

        ``interrupt`` is polled before every batch and after every decode step (so a cut
        reaches inside a batch that would take minutes on a CPU); when it returns True the
        call raises :class:`GenerationInterrupted`.
        """
        ...

    def stream(self, request: GenRequest) -> Generator[str, None, GenResult | None]:
        """Text deltas of one generation (for server-sent events); the generator returns the
        :class:`GenResult` with the counted tokens (None: the caller counts the text)."""
        ...

    def load_adapter(self, name: str, path: Path) -> None:
        """Load a PEFT adapter under ``name``, switched per request without reloading the base."""
        ...

    def unload_adapter(self, name: str) -> None: ...

    def nll(
        self, batch: dict[str, Any], *, adapter: str | None = None
    ) -> tuple[list[float], list[int]]:
        """Summed NLL and labelled-token count of each row of a padded batch
        (:class:`~mentor.data.packing.PaddedCollator`), under ``adapter`` (as in
        :class:`GenRequest`). Scoring without generating (perplexity) goes through here, so the
        adapter a request names is the one scored. Engines whose weights live outside this
        process raise :class:`~mentor.errors.ConfigError`."""
        ...


def trim_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop string. Returns (text, stopped)."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
    if cut < 0:
        return text, False
    return text[:cut], True
