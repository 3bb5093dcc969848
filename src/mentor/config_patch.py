"""Change ``mentor.yaml`` by a patch (``mentor config apply``; ``mentor tune`` writes patches).

A patch is a YAML mapping of the keys to change, nested like ``mentor.yaml`` or with dotted keys
(``training.learning_rate: 1.0e-4``). Applying one is three steps a user can follow:

1. validate the patched config and report every error at once (patch errors as ``patch:line``);
2. show the change as a unified diff of the *resolved* keys (defaults included), so a key that
   the file never named still shows what it was;
3. write the file atomically, editing the changed keys in place with ruamel.yaml so the file's
   comments and layout stay. The result is read back with the same YAML loader mentor uses and
   must equal the intended config; when it does not (an unusual layout), the file is rewritten
   from the config's documentation instead, and the plan says so.
"""

from __future__ import annotations

import difflib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mentor import config as config_mod
from mentor.errors import ConfigError
from mentor.paths import atomic_write_text


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sections -> ``{"section.key": value}``; a dotted key at any level is kept dotted."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def key_lines(text: str) -> dict[str, int]:
    """1-based line of each dotted key of a YAML mapping (for ``file:line`` in errors)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}

    def walk(node: Any, prefix: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                dotted = f"{prefix}{k.value}"
                lines[dotted] = k.start_mark.line + 1
                walk(v, dotted + ".")

    walk(root, "")
    return lines


@dataclass
class Patch:
    """A patch file read: its dotted keys and where each one is written."""

    source: str
    values: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)

    def where(self, dotted: str) -> str | None:
        """``patch.yaml:7`` for the longest patch key that ``dotted`` starts with."""
        best = None
        for key in self.values:
            if (dotted == key or dotted.startswith(key + ".")) and (
                best is None or len(key) > len(best)
            ):
                best = key
        if best is None:
            return None
        line = self.lines.get(best)
        return f"{self.source}:{line}" if line else self.source


def read_patch(path: Path) -> Patch:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: not found", hint="pass the patch file `mentor tune` wrote"
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys to new values")
    return Patch(str(path), flatten(raw), key_lines(text))


@dataclass
class Change:
    key: str
    old: Any
    new: Any


@dataclass
class PatchPlan:
    """What applying a patch would do; nothing is written until :func:`write_plan`."""

    config_file: Path
    source: str
    errors: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    diff: str = ""
    new_text: str | None = None
    comments_kept: bool = True

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": str(self.config_file),
            "patch": self.source,
            "valid": self.ok,
            "errors": self.errors,
            "changes": [c.__dict__ for c in self.changes],
            "diff": self.diff,
            "comments_kept": self.comments_kept,
        }


def _resolved_lines(cfg: config_mod.Config) -> list[str]:
    return [f"{k}: {json.dumps(v)}" for k, v in flatten(config_mod.to_dict(cfg)).items()]


def plan_patch(config_file: Path, patch: Patch) -> PatchPlan:
    """Validate ``patch`` on top of ``config_file`` (every error at once) and prepare the edit."""
    plan = PatchPlan(config_file, patch.source)
    raw = config_mod.read_yaml(config_file)
    try:
        before = config_mod.Config.model_validate(raw)
    except ValidationError as err:
        plan.errors = config_mod.format_errors(err, str(config_file))
        plan.errors.append(f"{config_file}: fix these first (`mentor config validate`)")
        return plan
    merged = config_mod.merge(raw, nest(patch.values))
    try:
        after = config_mod.Config.model_validate(merged)
    except ValidationError as err:
        for e in err.errors():
            loc, msg = config_mod.error_parts(e)
            plan.errors.append(f"{patch.where(loc) or config_file}: {loc}: {msg}")
        return plan
    old, new = flatten(config_mod.to_dict(before)), flatten(config_mod.to_dict(after))
    plan.changes = [Change(k, old[k], new[k]) for k in new if old.get(k) != new[k]]
    plan.diff = "\n".join(
        difflib.unified_diff(
            _resolved_lines(before),
            _resolved_lines(after),
            fromfile=f"{config_file} (resolved, now)",
            tofile=f"{config_file} (resolved, with {patch.source})",
            n=1,
            lineterm="",
        )
    )
    if plan.changes:
        updates = {c.key: c.new for c in plan.changes}
        text = config_file.read_text(encoding="utf-8")
        try:
            plan.new_text = edit_text(text, updates)
        except _Unsafe:
            plan.new_text = config_mod.commented_yaml(after)
            plan.comments_kept = False
    return plan


def write_plan(plan: PatchPlan) -> None:
    if not plan.ok or plan.new_text is None:
        raise ConfigError(f"{plan.source}: nothing valid to apply")
    atomic_write_text(plan.config_file, plan.new_text)


class _Unsafe(Exception):
    """The in-place edit would not read back as the intended config."""


def edit_text(text: str, updates: dict[str, Any]) -> str:
    """``text`` with each dotted key set to its value, comments and layout kept (ruamel.yaml).

    New values are styled the way PyYAML (mentor's loader) writes them, so ``'07:00'`` stays a
    quoted string and ``5.0e-05`` a float. Raises :class:`_Unsafe` when the result would not read
    back as ``text``'s config with ``updates`` applied.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096
    rt.representer.add_representer(
        type(None), lambda r, d: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )

    def styled(value: Any) -> Any:
        dumped = yaml.safe_dump({"v": value}, default_flow_style=True, allow_unicode=True)
        return rt.load(dumped)["v"]

    try:
        doc = rt.load(text)
        if doc is None:
            doc = CommentedMap()
        if not isinstance(doc, CommentedMap):
            raise _Unsafe
        for dotted, value in updates.items():
            node = doc
            *parents, last = dotted.split(".")
            for part in parents:
                child = node.get(part)
                if not isinstance(child, CommentedMap):
                    child = CommentedMap()
                    node[part] = child
                node = child
            node[last] = styled(value)
        buf = io.StringIO()
        rt.dump(doc, buf)
        new = buf.getvalue()
    except _Unsafe:
        raise
    except Exception as err:  # ruamel refuses what PyYAML accepts (duplicate keys, tags...)
        raise _Unsafe from err
    expected = config_mod.merge(yaml.safe_load(text) or {}, nest(updates))
    if yaml.safe_load(new) != expected:
        raise _Unsafe
    return new
