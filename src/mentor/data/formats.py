"""The row formats users already have, read into mentor's one chat form (issue 13 item 13).

:func:`~mentor.data.chat.messages_from_row` reads ``messages`` rows; before it, a row is brought
into that shape here:

* **ShareGPT** (as LLaMA-Factory and Axolotl read it): ``{"conversations": [{"from": "human",
  "value": ...}, {"from": "gpt", "value": ...}]}``; roles ``system``/``human``/``gpt`` (and
  ``user``/``assistant``), optional top-level ``system``.
* **Alpaca**: ``{"instruction": ..., "input": ..., "output": ...}``; the user turn is the
  instruction, then a blank line and the input when there is one; optional ``system``.
* **A field mapping** (``data.fields``) for other names: ``{"messages": "dialog", "role":
  "speaker", "content": "text"}`` reads ``dialog`` as the message list and each message's
  ``speaker``/``text`` as role/content; ``data.roles`` maps other role names (``bot``) onto
  system/user/assistant.

The result is masked exactly like ``messages`` rows (assistant tokens only): the format changes
only how a row is read, never how it is rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mentor.errors import DataError

#: canonical keys ``data.fields`` may rename (row keys, then keys inside a message)
FIELD_KEYS = ("messages", "role", "content", "prompt", "completion", "text")
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
}


@dataclass(frozen=True)
class RowFormat:
    """How rows name their fields: ``fields`` canonical key -> the file's key, ``roles`` the
    file's role name -> system/user/assistant. Empty: mentor's own names."""

    fields: Mapping[str, str] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, data: Any) -> RowFormat:
        return cls(dict(getattr(data, "fields", {}) or {}), dict(getattr(data, "roles", {}) or {}))

    def key(self, name: str) -> str:
        return self.fields.get(name, name)

    def fingerprint(self) -> list[Any]:
        """What changes the rows read (part of the tokenization cache key)."""
        return [sorted(self.fields.items()), sorted(self.roles.items())]


DEFAULT_FORMAT = RowFormat()


def _mapped(row: Mapping[str, Any], fmt: RowFormat, where: str) -> dict[str, Any]:
    """The row with ``data.fields`` names read as mentor's (row level and inside messages)."""
    out = dict(row)
    for canon in ("messages", "prompt", "completion", "text"):
        src = fmt.key(canon)
        if src != canon and src in row:
            out.pop(src, None)
            out[canon] = row[src]
    msgs = out.get("messages")
    role_key, content_key = fmt.key("role"), fmt.key("content")
    if isinstance(msgs, list) and (role_key != "role" or content_key != "content" or fmt.roles):
        converted = []
        for i, m in enumerate(msgs):
            if not isinstance(m, Mapping) or role_key not in m or content_key not in m:
                raise DataError(
                    f"{where}: {fmt.key('messages')}[{i}] needs {role_key!r} and {content_key!r}",
                    hint="check data.fields in mentor.yaml",
                )
            role = m[role_key]
            converted.append({"role": fmt.roles.get(role, role), "content": m[content_key]})
        out["messages"] = converted
    return out


def _sharegpt(row: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    conv = row["conversations"]
    if not isinstance(conv, list) or not conv:
        raise DataError(f"{where}: 'conversations' must be a non-empty list")
    msgs: list[dict[str, Any]] = []
    if isinstance(row.get("system"), str) and row["system"]:
        msgs.append({"role": "system", "content": row["system"]})
    for i, turn in enumerate(conv):
        if not isinstance(turn, Mapping) or "from" not in turn or "value" not in turn:
            raise DataError(f"{where}: conversations[{i}] needs 'from' and 'value'")
        role = SHAREGPT_ROLES.get(str(turn["from"]))
        if role is None:
            raise DataError(
                f"{where}: conversations[{i}] has from={turn['from']!r}; expected one of "
                f"{', '.join(SHAREGPT_ROLES)}"
            )
        if not isinstance(turn["value"], str):
            raise DataError(f"{where}: conversations[{i}].value must be a string")
        msgs.append({"role": role, "content": turn["value"]})
    return msgs


def _alpaca(row: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    instruction, extra, output = row["instruction"], row.get("input", ""), row.get("output")
    if not isinstance(instruction, str) or not isinstance(output, str):
        raise DataError(f"{where}: 'instruction' and 'output' must both be strings")
    if extra is None:
        extra = ""
    if not isinstance(extra, str):
        raise DataError(f"{where}: 'input' must be a string")
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    msgs: list[dict[str, Any]] = []
    if isinstance(row.get("system"), str) and row["system"]:
        msgs.append({"role": "system", "content": row["system"]})
    return [*msgs, {"role": "user", "content": user}, {"role": "assistant", "content": output}]


def canonical_row(row: Any, where: str, fmt: RowFormat = DEFAULT_FORMAT) -> Any:
    """The row in mentor's own names (``messages``/``prompt``/``text``); anything that is not a
    JSON object is returned as is for the caller to refuse."""
    if not isinstance(row, Mapping):
        return row
    if fmt.fields or fmt.roles:
        row = _mapped(row, fmt, where)
    if "messages" in row or "prompt" in row or "text" in row:
        return row
    if "conversations" in row:
        return {**row, "messages": _sharegpt(row, where)}
    if "instruction" in row:
        if "output" not in row:
            raise DataError(f"{where}: an Alpaca row needs 'output' (the answer to train on)")
        return {**row, "messages": _alpaca(row, where)}
    return row
