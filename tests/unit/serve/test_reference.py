"""docs/api-reference.md is generated from the app's OpenAPI schema and kept current."""

from __future__ import annotations

from pathlib import Path

from mentor.serve.reference import markdown, openapi_schema

DOC = Path(__file__).resolve().parents[3] / "docs" / "api-reference.md"


def test_every_route_and_schema_is_in_the_reference() -> None:
    schema = openapi_schema()
    text = markdown(schema)
    for path, ops in schema["paths"].items():
        for method in ops:
            assert f"### `{method.upper()} {path}`" in text
    for name in schema["components"]["schemas"]:
        assert f"\n### {name}\n" in text
    chat = schema["components"]["schemas"]["ChatBody"]["properties"]
    assert all(f"| `{field}` |" in text for field in chat)


def test_committed_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == markdown(), (
        "docs/api-reference.md is stale: run `mentor api-reference --out docs/api-reference.md`"
    )
