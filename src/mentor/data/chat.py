"""One chat template for everything: training text, loss spans and generation prompts.

Training, live previews, benchmarks, the CLI tester and the API all render through
:class:`ChatRenderer`, so a trained answer and the prompt that later asks for it agree token for
token. The Qwen3 quirk (the final assistant turn wrapped in an empty think block, the same block
closing the generation prompt when thinking is off) is handled by rendering the prompt of each
assistant turn with the template itself and training exactly what follows it, up to and
including the end-of-turn token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentor.data.formats import DEFAULT_FORMAT, RowFormat, canonical_row
from mentor.errors import ConfigError, DataError

Message = dict[str, str]
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Rendered:
    """A row rendered for training: the exact text and the character spans that carry loss."""

    text: str
    spans: tuple[tuple[int, int], ...]


def messages_from_row(row: Any, where: str, fmt: RowFormat = DEFAULT_FORMAT) -> list[Message] | str:
    """A JSONL row -> chat messages, or plain text for ``{"text": ...}`` rows.

    Accepted: ``messages`` (system/user/assistant, multi-turn), ``prompt`` + ``completion``
    (``solution`` is read as ``completion``, as the users' generator API writes it), ``text``,
    and through :mod:`mentor.data.formats` ShareGPT ``conversations``, Alpaca
    ``instruction``/``input``/``output`` and the names of ``fmt`` (``data.fields``).
    Other keys, such as ``metadata``, are ignored.
    """
    row = canonical_row(row, where, fmt)
    if not isinstance(row, Mapping):
        raise DataError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise DataError(f"{where}: 'messages' must be a non-empty list")
        out: list[Message] = []
        for i, m in enumerate(msgs):
            if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
                raise DataError(f"{where}: messages[{i}] needs 'role' and 'content'")
            role, content = m["role"], m["content"]
            if role not in ROLES:
                raise DataError(
                    f"{where}: messages[{i}] has role {role!r}; expected one of {', '.join(ROLES)}"
                )
            if not isinstance(content, str):
                raise DataError(f"{where}: messages[{i}].content must be a string")
            out.append({"role": role, "content": content})
        if not any(m["role"] == "assistant" for m in out):
            raise DataError(
                f"{where}: 'messages' has no assistant turn", hint="add the answer to train on"
            )
        if out[0]["role"] == "assistant":  # the chat template has nothing to put before it
            raise DataError(f"{where}: messages[0] is the assistant's; a user turn comes first")
        if out[-1]["role"] != "assistant":
            raise DataError(f"{where}: the last message must be the assistant's answer")
        return out
    if "prompt" in row:
        completion = row.get("completion", row.get("solution"))
        if not isinstance(row["prompt"], str) or not isinstance(completion, str):
            raise DataError(f"{where}: 'prompt' and 'completion' must both be strings")
        return [
            {"role": "user", "content": row["prompt"]},
            {"role": "assistant", "content": completion},
        ]
    if "text" in row:
        if not isinstance(row["text"], str) or not row["text"]:
            raise DataError(f"{where}: 'text' must be a non-empty string")
        return row["text"]
    raise DataError(
        f"{where}: no 'messages', 'conversations' (ShareGPT), 'instruction' (Alpaca), "
        "'prompt'/'completion' or 'text' key (other names: map them in data.fields)",
        hint='write chat rows as {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}',
    )


class ChatRenderer:
    """Renders rows and prompts with the model's chat template and mentor's chat config."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        enable_thinking: bool = False,
        default_system_prompt: str | None = None,
        train_on: str = "all_assistant",
        template: str = "model",
    ) -> None:
        self.tokenizer = tokenizer
        self.enable_thinking = enable_thinking
        self.default_system_prompt = default_system_prompt
        self.train_on = train_on
        if template != "model":
            path = Path(template)
            if not path.is_file():
                raise ConfigError(
                    f"chat.template: {template}: no such file", hint="use 'model' or a Jinja file"
                )
            tokenizer.chat_template = path.read_text(encoding="utf-8")
        self.end_of_turn = self._end_of_turn()

    @classmethod
    def from_config(cls, tokenizer: Any, chat: Any) -> ChatRenderer:
        return cls(
            tokenizer,
            enable_thinking=chat.enable_thinking,
            default_system_prompt=chat.default_system_prompt,
            train_on=chat.train_on,
            template=chat.template,
        )

    def _end_of_turn(self) -> str:
        vocab = self.tokenizer.get_vocab()
        return "<|im_end|>" if "<|im_end|>" in vocab else str(self.tokenizer.eos_token)

    def with_system(self, messages: Sequence[Message]) -> list[Message]:
        """Add the default system prompt only where a row has none; never change the data's own."""
        msgs = list(messages)
        if self.default_system_prompt and not any(m["role"] == "system" for m in msgs):
            msgs.insert(0, {"role": "system", "content": self.default_system_prompt})
        return msgs

    def _template(self, messages: Sequence[Message], *, generation_prompt: bool) -> str:
        return str(
            self.tokenizer.apply_chat_template(
                list(messages),
                tokenize=False,
                add_generation_prompt=generation_prompt,
                enable_thinking=self.enable_thinking,
            )
        )

    def prompt(self, messages: Sequence[Message] | str) -> str:
        """The generation prompt for a conversation that ends with a user turn (or a bare prompt)."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        msgs = self.with_system(messages)
        if msgs and msgs[-1]["role"] == "assistant":
            msgs = msgs[:-1]
        return self._template(msgs, generation_prompt=True)

    def render(self, row: list[Message] | str, where: str = "row") -> Rendered:
        """The exact training text of a row and the spans of its trained tokens."""
        if isinstance(row, str):  # plain text rows are trained whole, closed by the end token
            text = row + self.end_of_turn
            return Rendered(text, ((0, len(text)),))
        msgs = self.with_system(row)
        full = self._template(msgs, generation_prompt=False)
        if self.train_on == "all":
            return Rendered(full, ((0, len(full)),))
        assistant_at = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
        if self.train_on == "last_assistant":
            assistant_at = assistant_at[-1:]
        spans = []
        for i in assistant_at:
            start = self._turn_start(full, msgs[:i], where)
            end = full.find(self.end_of_turn, start)
            if end < 0:
                raise DataError(f"{where}: the chat template did not close assistant turn {i}")
            spans.append((start, end + len(self.end_of_turn)))
        return Rendered(full, tuple(spans))

    def _turn_start(self, full: str, before: Sequence[Message], where: str) -> int:
        # The prompt the model gets at generation time must prefix the trained text. Earlier
        # assistant turns of Qwen3-style templates have no think block, so their prompt is the
        # plain generation header; the final turn's prompt carries the (empty) think block.
        prompt = self._template(before, generation_prompt=True)
        if full.startswith(prompt):
            return len(prompt)
        header = str(
            self.tokenizer.apply_chat_template(
                list(before), tokenize=False, add_generation_prompt=True
            )
        )
        if full.startswith(header):
            return len(header)
        raise DataError(
            f"{where}: the chat template renders this conversation's prefix differently from the whole",
            hint="use a template whose turns render independently (ChatML, Qwen3)",
        )
