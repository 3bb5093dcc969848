"""What a request may ask of the API (issue 13, items 2, 4, 5, 15), through the app (TestClient)
with the real tiny-model engine: the context-length rule, one id per version, no server paths
in refusals, lists of prompts, seeds, logprobs."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from helpers.adapters import make_adapter
from helpers.short_context import short_context_model
from mentor import config as config_mod
from mentor.serve.app import create_app

pytestmark = pytest.mark.timeout(300)

CONTEXT = 48


def sse(text: str) -> list[dict]:
    data = [ln.removeprefix("data: ") for ln in text.splitlines() if ln.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


@pytest.fixture()
def short(workspace, tiny_model_dir, tmp_path):
    """An API whose model has a 48-token context."""
    cfg = config_mod.load(workspace.config_file)
    cfg.model.path = str(short_context_model(tiny_model_dir, tmp_path / "short", CONTEXT))
    with TestClient(create_app(workspace, cfg)) as c:
        yield c


def assert_context_400(r) -> None:
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "context_length_exceeded" and err["type"] == "invalid_request_error"
    assert f"context is {CONTEXT} tokens" in err["message"]


def test_context_length_refuses_or_clips(short):
    """A prompt that fills the context is a 400 (it answered 200 with garbage); a prompt that
    fits with max_tokens beyond the context is clipped, and says `length` where it stopped."""
    long_prompt = "word " * 80
    assert_context_400(short.post("/generate", json={"prompt": long_prompt, "raw": True}))
    assert_context_400(
        short.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": long_prompt}]}
        )
    )
    assert_context_400(short.post("/v1/completions", json={"prompt": long_prompt, "stream": True}))
    assert_context_400(short.post("/v1/completions", json={"prompt": ["hi", long_prompt]}))

    g = short.post("/generate", json={"prompt": "hello", "raw": True, "max_tokens": 1000}).json()
    assert g["finish_reason"] == "length" and g["prompt_tokens"] + g["tokens"] == CONTEXT
    c = short.post("/v1/completions", json={"prompt": "hello", "max_tokens": 1000}).json()
    assert c["choices"][0]["finish_reason"] == "length"
    assert c["usage"]["total_tokens"] == CONTEXT
    chunks = sse(
        short.post(
            "/v1/completions", json={"prompt": "hello", "max_tokens": 1000, "stream": True}
        ).text
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["total_tokens"] == CONTEXT
    small = short.post("/v1/completions", json={"prompt": "hello", "max_tokens": 4}).json()
    assert small["usage"]["completion_tokens"] == 4  # within the context: as asked


@pytest.fixture()
def client(workspace):
    with TestClient(create_app(workspace, config_mod.load(workspace.config_file))) as c:
        yield c


def test_completions_take_a_list_of_prompts(client):
    prompts = ["the model", "abc", "hello there"]
    one = [
        client.post("/v1/completions", json={"prompt": p, "max_tokens": 5}).json()["choices"][0]
        for p in prompts
    ]
    r = client.post("/v1/completions", json={"prompt": prompts, "max_tokens": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [ch["index"] for ch in body["choices"]] == [0, 1, 2]
    assert [ch["text"] for ch in body["choices"]] == [o["text"] for o in one]  # greedy, in order
    assert body["usage"]["completion_tokens"] == 15  # the tiny model runs to the cap
    for bad in ([], ["ok", ""], ["x"] * 1000):
        r = client.post("/v1/completions", json={"prompt": bad})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_prompt"
    r = client.post("/v1/completions", json={"prompt": ["a", "b"], "stream": True})
    assert r.status_code == 400


def test_seed_makes_sampling_reproducible(client):
    def ask(seed: int, path: str = "/v1/completions") -> str:
        body = {"prompt": "hello", "max_tokens": 12, "temperature": 1.0, "seed": seed}
        r = client.post(path, json=body)
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["text"] if path != "/generate" else r.json()["text"]

    a, b, c = ask(1), ask(1), ask(2)
    assert a == b and a != c
    chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 12, "temperature": 1.0}
    t = [
        client.post("/v1/chat/completions", json={**chat, "seed": s}).json()["choices"][0]
        for s in (7, 7, 8)
    ]
    assert t[0]["message"]["content"] == t[1]["message"]["content"] != t[2]["message"]["content"]
    # the same seed with other requests batched beside it: still the same text
    listed = client.post(
        "/v1/completions",
        json={"prompt": ["hello", "hello"], "max_tokens": 12, "temperature": 1.0, "seed": 1},
    ).json()
    assert [ch["text"] for ch in listed["choices"]] == [a, a]
    streamed = client.post(
        "/v1/completions",
        json={"prompt": "hello", "max_tokens": 12, "temperature": 1.0, "seed": 1, "stream": True},
    )
    assert "".join(ch["choices"][0]["text"] for ch in sse(streamed.text)) == a


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/v1/completions", {"prompt": "hi", "logprobs": 2}),
        ("/v1/completions", {"prompt": "hi", "logprobs": 0}),
        ("/v1/completions", {"prompt": "hi", "echo": True}),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "hi"}], "logprobs": True},
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 3},
        ),
    ],
)
def test_logprobs_are_refused_never_ignored(client, path, extra):
    r = client.post(path, json={**extra, "max_tokens": 2})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "unsupported_parameter"


def test_one_id_per_version_and_no_paths_in_refusals(workspace, tiny_model_dir):
    """`v001` and its folder name are one pool entry and one `/v1/models` row (they were two,
    with different `loaded` flags); an unknown model's 404 names no server directory."""
    folder = "v001_20260101T000000_first"
    make_adapter(tiny_model_dir, workspace.versions / folder / "adapter", seed=1)
    app = create_app(workspace, config_mod.load(workspace.config_file))
    with TestClient(app) as c:
        short = c.post("/generate", json={"prompt": "x", "model": "v001", "max_tokens": 3}).json()
        long = c.post("/generate", json={"prompt": "x", "model": folder, "max_tokens": 3}).json()
        assert short["model"] == long["model"] == "v001" and short["text"] == long["text"]
        assert app.state.mentor.pool.loaded() == ["v001"]
        rows = [m for m in c.get("/v1/models").json()["data"] if m["id"] not in ("base", "serving")]
        assert rows == [
            {
                "id": "v001",
                "object": "model",
                "created": rows[0]["created"],
                "owned_by": "mentor",
                "loaded": True,
                "aliases": [folder],
            }
        ]
        assert c.get("/health").json()["adapters_loaded"] == ["v001"]
        home = str(workspace.home)
        for name in ("v042", "current", "v042_x"):
            r = c.post("/generate", json={"prompt": "x", "model": name})
            assert r.status_code == 404, r.text
            assert home not in r.text and "/tmp" not in r.text, r.text
            assert r.json()["error"]["code"] == "not_found_error"
