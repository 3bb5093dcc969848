"""docs/configuration.md is generated from the config models and kept current."""

from __future__ import annotations

from pathlib import Path

from mentor.config import Config
from mentor.config_reference import markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _keys(model, prefix=""):
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = f"{prefix}.{name}" if prefix else name
        if hasattr(type(value), "model_fields"):
            yield from _keys(value, key)
        else:
            yield key, field


def test_every_key_is_documented_with_its_description() -> None:
    text = markdown()
    for key, field in _keys(Config()):
        assert field.description, f"{key} has no description"
        line = next((ln for ln in text.splitlines() if ln.startswith(f"| `{key}` |")), None)
        assert line is not None, f"{key} missing from the reference"
        assert field.description.split()[0] in line


def test_committed_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == markdown(), (
        "docs/configuration.md is stale: run `mentor config reference --out docs/configuration.md`"
    )
