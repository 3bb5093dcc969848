"""docs/api-reference.md, generated from the app's OpenAPI schema (``create_app(...).openapi()``).

``mentor api-reference --out docs/api-reference.md`` writes it; a test fails when the committed
file differs from what the app describes, so the reference cannot drift from the routes.
The schema is FastAPI's (the routes' signatures, response models and the ``responses`` each
route declares); this module only lays it out: one section per route, then every schema.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")

HEADER = """# API reference

Generated from the app's OpenAPI schema by `mentor api-reference --out docs/api-reference.md`
(do not edit by hand; `tests/unit/serve/test_reference.py` fails when it is stale). How to call
the API, keys and errors: [api.md](api.md); the dashboard's pages: [dashboard.md](dashboard.md).
A running server also serves the schema itself at `/openapi.json` and browsable docs at `/docs`.
"""


def openapi_schema() -> dict[str, Any]:
    """The schema of the API as ``mentor serve`` builds it (an empty workspace, default config:
    no route depends on either for its shape)."""
    from mentor.config import Config
    from mentor.paths import Workspace
    from mentor.serve.app import create_app

    with tempfile.TemporaryDirectory() as d:
        return dict(create_app(Workspace(Path(d)), Config()).openapi())


def _cell(text: Any) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


def type_of(schema: dict[str, Any]) -> str:
    """A short type: ``ChatBody``, ``list[Event]``, ``str | null``, ``"a" | "b"``."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "enum" in schema:
        return " \\| ".join(f'`"{v}"`' if isinstance(v, str) else f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f'`"{schema["const"]}"`'
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " \\| ".join(type_of(s) for s in schema[key])
    t = schema.get("type")
    if t == "array":
        return f"list[{type_of(schema.get('items') or {})}]"
    if t == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"dict[str, {type_of(schema['additionalProperties'])}]"
    names = {
        "string": "str",
        "integer": "int",
        "number": "float",
        "boolean": "bool",
        "null": "null",
    }
    return names.get(str(t), str(t or "any"))


def _route(path: str, method: str, op: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", ""]
    if op.get("summary"):
        lines += [
            f"**{op['summary']}**" + (f" ({', '.join(op['tags'])})" if op.get("tags") else ""),
            "",
        ]
    if op.get("description"):
        lines += [str(op["description"]).strip(), ""]
    params = op.get("parameters") or []
    if params:
        lines += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        for p in params:
            lines.append(
                f"| `{p['name']}` | {p.get('in', '')} | {type_of(p.get('schema') or {})} | "
                f"{'yes' if p.get('required') else 'no'} | {_cell(p.get('description'))} |"
            )
        lines.append("")
    body = (op.get("requestBody") or {}).get("content") or {}
    for ctype, c in body.items():
        lines += [f"Request body ({ctype}): {type_of(c.get('schema') or {})}", ""]
    responses = op.get("responses") or {}
    if responses:
        lines += ["| status | body | description |", "|---|---|---|"]
        for code, r in sorted(responses.items()):
            bodies = ", ".join(
                f"{type_of(c.get('schema') or {})} ({ct})"
                for ct, c in (r.get("content") or {}).items()
            )
            lines.append(f"| {code} | {bodies} | {_cell(r.get('description'))} |")
        lines.append("")
    return lines


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [" ".join(str(schema["description"]).split()), ""]
    props = schema.get("properties") or {}
    if props:
        required = set(schema.get("required") or [])
        lines += ["| field | type | required | default | description |", "|---|---|---|---|---|"]
        for field, p in props.items():
            default = f"`{p['default']}`" if "default" in p else ""
            lines.append(
                f"| `{field}` | {type_of(p)} | {'yes' if field in required else 'no'} | "
                f"{_cell(default)} | {_cell(p.get('description'))} |"
            )
        lines.append("")
    elif "enum" in schema:
        lines += [f"One of {type_of(schema)}.", ""]
    return lines


def markdown(schema: dict[str, Any] | None = None) -> str:
    """The whole reference as Markdown (deterministic: routes and schemas in schema order)."""
    schema = schema or openapi_schema()
    lines = [HEADER, "## Routes", ""]
    for path, ops in (schema.get("paths") or {}).items():
        for method in METHODS:
            if method in ops:
                lines += _route(path, method, ops[method])
    lines += ["## Schemas", ""]
    for name, s in sorted(((schema.get("components") or {}).get("schemas") or {}).items()):
        lines += _schema(name, s)
    return "\n".join(lines).rstrip("\n") + "\n"
