"""The configuration reference (``docs/configuration.md``), generated from the config models.

Every key of ``mentor.yaml`` with its type, default and description, section by section, read
from the pydantic models in :mod:`mentor.config`: the reference cannot drift from the code
(``tests/unit/test_config_reference.py`` fails when the committed file is stale; regenerate it
with ``mentor config reference --out docs/configuration.md``).
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from mentor.config import Config

HEADER = """# Configuration reference

Generated from the config models (`src/mentor/config.py`) by
`mentor config reference --out docs/configuration.md`; do not edit by hand.

Every key is optional: a workspace's `mentor.yaml` (written commented by `mentor init`) holds the
defaults below. Override any key for one command with `--set section.key=value`
(e.g. `--set training.learning_rate=1e-4`); `mentor config show` prints the resolved config and
`mentor config validate` reports every error at once.
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin in (list, tuple, dict):
        inner = ", ".join(_type_name(a) for a in args)
        return f"{origin.__name__}[{inner}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(model: BaseModel, name: str) -> str:
    value = getattr(model, name)
    return "`" + json.dumps(value, ensure_ascii=False) + "`"


def _rows(model: BaseModel, prefix: str, out: list[str]) -> list[tuple[str, BaseModel]]:
    """Table rows of the plain fields; returns the nested sections to describe after."""
    nested: list[tuple[str, BaseModel]] = []
    fields: dict[str, FieldInfo] = type(model).model_fields
    for name, field in fields.items():
        value = getattr(model, name)
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(value, BaseModel):
            nested.append((key, value))
            continue
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        out.append(
            f"| `{key}` | {_type_name(field.annotation)} | {_default(model, name)} | {desc} |"
        )
    return nested


def _section(key: str, model: BaseModel, title: str, out: list[str]) -> None:
    out += ["", f"## `{key}`", "", title, "", "| key | type | default | what it does |"]
    out.append("|---|---|---|---|")
    nested = _rows(model, key, out)
    for sub_key, sub in nested:
        parent = type(model).model_fields[sub_key.rsplit(".", 1)[1]]
        _section(sub_key, sub, parent.description or "", out)


def markdown(cfg: Config | None = None) -> str:
    cfg = cfg or Config()
    out = [HEADER.rstrip()]
    for name, field in type(cfg).model_fields.items():
        _section(name, getattr(cfg, name), field.description or "", out)
    return "\n".join(out) + "\n"
