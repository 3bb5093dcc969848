"""The OpenAPI schema describes every answer: a typed 200, every refusal in the one error shape,
the key scheme on protected routes only (what schema-driven fuzzing needs)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mentor import config as config_mod
from mentor.serve.app import create_app
from mentor.serve.schemas import ChatCompletionChunk, ChatDelta, Completion, ErrorBody, Usage

JSON = "application/json"


@pytest.fixture()
def spec(workspace):
    return create_app(workspace, config_mod.load(workspace.config_file)).openapi()


def operations(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield f"{method.upper()} {path}", path, op


def test_every_operation_has_a_typed_answer(spec):
    ops = list(operations(spec))
    assert {name for name, _, _ in ops} >= {
        "POST /generate",
        "POST /v1/chat/completions",
        "POST /v1/completions",
        "GET /v1/models",
        "GET /health",
        "GET /metrics",
        "GET /api/dash/overview",
        "GET /api/dash/evolution/diff",
    }
    for name, path, op in ops:
        ok = op["responses"]["200"]["content"]
        if path == "/metrics":
            assert any(t.startswith("text/plain") for t in ok), name
            continue
        schema = ok[JSON]["schema"]
        assert schema.get("$ref") or schema.get("type") == "object", (name, schema)
        assert schema != {}, name


def test_every_refusal_is_the_error_shape(spec):
    for name, path, op in operations(spec):
        assert "422" not in op["responses"], f"{name}: validation errors are 400"
        if path == "/health":
            continue
        for status, resp in op["responses"].items():
            if status == "200":
                continue
            ref = resp["content"][JSON]["schema"]["$ref"]
            assert ref.endswith("/ErrorBody"), (name, status)
        assert {"401", "default"} <= set(op["responses"]), name
    gen = spec["paths"]["/generate"]["post"]["responses"]
    assert {"400", "404", "413", "429"} <= set(gen)


def test_the_key_scheme_is_declared_where_a_key_is_checked(spec):
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    for name, path, op in operations(spec):
        if path == "/health":
            assert "security" not in op, name  # open
        else:
            assert op["security"] == [{"apiKey": []}], name


def test_streams_are_documented_beside_the_json(spec):
    for path in ("/v1/chat/completions", "/v1/completions"):
        content = spec["paths"][path]["post"]["responses"]["200"]["content"]
        assert set(content) == {JSON, "text/event-stream"}


def test_chunks_leave_out_what_is_not_there():
    """OpenAI's chunks: a delta carries only what it has; usage only on the last chunk."""
    first = ChatCompletionChunk(
        id="c",
        created=1,
        model="base",
        choices=[{"delta": ChatDelta(role="assistant", content=""), "finish_reason": None}],
    )
    body = first.model_dump(mode="json")
    assert body["object"] == "chat.completion.chunk" and "usage" not in body
    assert body["choices"][0] == {
        "index": 0,
        "delta": {"role": "assistant", "content": ""},
        "finish_reason": None,
    }
    last = Completion(
        id="c",
        created=1,
        model="base",
        choices=[{"text": "", "finish_reason": "length"}],
        usage=Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3),
    )
    assert last.model_dump(mode="json")["choices"][0]["logprobs"] is None
    assert last.model_dump(mode="json")["usage"]["total_tokens"] == 3


def test_error_body_is_strict_about_its_shape():
    ErrorBody.model_validate({"error": {"message": "m", "type": "t", "code": None}})
    with pytest.raises(ValidationError):
        ErrorBody.model_validate({"detail": "m"})
