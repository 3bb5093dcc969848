"""The REST API through the app (TestClient) with the real tiny-model engine."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mentor import config as config_mod
from mentor.errors import ConfigError
from mentor.serve.app import create_app
from mentor.serve.schemas import ChatCompletionChunk, Completion
from mentor.serve.security import hash_key
from mentor.store import connect, kv
from mentor.store.kv import Key

pytestmark = pytest.mark.timeout(300)


def make_adapter(model_dir: Path, out: Path, seed: int) -> Path:
    """A LoRA adapter with random, non-zero B weights (so it changes the output)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    lora = LoraConfig(r=8, lora_alpha=32, target_modules="all-linear", init_lora_weights=False)
    peft_model = get_peft_model(model, lora)
    peft_model.save_pretrained(str(out))
    return out


def add_version(ws, model_dir: Path, name: str, seed: int) -> str:
    vdir = ws.versions / name
    make_adapter(model_dir, vdir / "adapter", seed)
    (vdir / "manifest.json").write_text(json.dumps({"name": name}))
    return name


def set_serving(ws, version: str) -> None:
    """Promote as the daemon does: kv ``serving_version`` in state.db."""
    conn = connect(ws.db)
    try:
        kv.put(conn, Key.SERVING_VERSION, version)
    finally:
        conn.close()


def load_cfg(ws, **serve):
    cfg = config_mod.load(ws.config_file)
    for k, v in serve.items():
        setattr(cfg.serve, k, v)
    return cfg


def sse_events(text: str) -> list:
    events = [
        line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")
    ]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


@pytest.fixture()
def client(workspace):
    app = create_app(workspace, load_cfg(workspace))
    with TestClient(app) as c:
        yield c


def test_every_endpoint(client):
    r = client.post("/generate", json={"prompt": "hello", "max_tokens": 6})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"text", "model", "tokens", "latency_ms"}
    assert body["model"] == "base" and 1 <= body["tokens"] <= 6

    # templated vs raw: the raw prompt is the bare text, so it has fewer prompt tokens
    raw = client.post("/generate", json={"prompt": "hello", "max_tokens": 2, "raw": True}).json()
    assert raw["prompt_tokens"] < body["prompt_tokens"]

    r = client.post(
        "/v1/chat/completions",
        json={"model": "base", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 6},
    )
    assert r.status_code == 200, r.text
    chat = r.json()
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"]["role"] == "assistant"
    # one template: the chat endpoint and /generate send the same text, greedy gives the same answer
    assert chat["choices"][0]["message"]["content"] == body["text"]
    assert chat["usage"]["completion_tokens"] == body["tokens"]
    assert chat["usage"]["total_tokens"] == chat["usage"]["prompt_tokens"] + body["tokens"]

    r = client.post("/v1/completions", json={"model": "base", "prompt": "hello", "max_tokens": 4})
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "text_completion" and "text" in r.json()["choices"][0]

    models = client.get("/v1/models").json()
    ids = [m["id"] for m in models["data"]]
    assert ids[:2] == ["base", "serving"]

    health = client.get("/health").json()
    assert health["status"] == "ok" and health["serving_version"] == "base"

    r = client.get("/metrics")
    assert r.status_code == 200
    text = r.text
    assert 'mentor_serve_requests_total{route="/generate",status="200"}' in text
    assert "mentor_serve_request_seconds_bucket" in text
    assert "mentor_serve_generated_tokens_total" in text
    assert "mentor_serve_tokens_per_second" in text
    assert "mentor_serve_queue_depth" in text
    assert 'mentor_serve_serving_version{version="base"} 1.0' in text


def test_streaming_matches_the_whole_answer(client):
    whole = client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "tell me"}], "max_tokens": 8},
    ).json()
    r = client.post(
        "/v1/chat/completions",
        json={
            "messages": [{"role": "user", "content": "tell me"}],
            "max_tokens": 8,
            "stream": True,
        },
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    chunks = sse_events(r.text)
    for c in chunks:  # each event is the documented chunk, nothing more
        assert ChatCompletionChunk.model_validate(c).model_dump(mode="json") == c
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == whole["choices"][0]["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert chunks[-1]["usage"]["completion_tokens"] >= 1

    r = client.post("/v1/completions", json={"prompt": "abc", "max_tokens": 5, "stream": True})
    chunks = sse_events(r.text)
    assert chunks[-1]["object"] == "text_completion" and "usage" in chunks[-1]
    assert all(Completion.model_validate(c).model_dump(mode="json") == c for c in chunks)
    assert client.app.state.mentor.in_flight == 0  # every stream gave its slot back


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"prompt": 3}, 400, "invalid_body"),
        ({}, 400, "invalid_body"),
        ({"prompt": "x", "max_tokens": 10_000}, 400, "max_tokens_too_large"),
        ({"prompt": "x", "max_tokens": 0}, 400, "invalid_body"),
        ({"prompt": "x", "temperature": -1}, 400, "invalid_body"),
        ({"prompt": "x", "model": "../../etc/passwd"}, 400, "config_error"),
        ({"prompt": "x", "model": "/etc/passwd"}, 400, "config_error"),
        ({"prompt": "x", "model": "v042"}, 404, "not_found_error"),
        ({"prompt": "x", "stop": ["s"] * 50}, 400, "invalid_stop"),
    ],
)
def test_bad_generate_payloads(client, payload, status, code):
    r = client.post("/generate", json=payload)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and err["type"]


def test_bad_requests_are_json(client):
    r = client.post("/generate", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    r = client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}], "n": 2}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_n"
    r = client.post(
        "/v1/chat/completions", json={"messages": [{"role": "assistant", "content": "x"}]}
    )
    assert r.status_code == 400
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "wizard", "content": "x"}]})
    assert r.status_code == 400
    r = client.post("/generate", content=b"x" * 1_100_000)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    r = client.get("/nowhere")
    assert r.status_code == 404 and "error" in r.json()
    r = client.get("/generate")
    assert r.status_code == 405 and "error" in r.json()
    assert "access-control-allow-origin" not in r.headers


def test_auth(workspace):
    key = "k-" + "s3cret" * 4
    cfg = load_cfg(workspace, api_keys=[hash_key(key)])
    with TestClient(create_app(workspace, cfg)) as c:
        body = {"prompt": "hi", "max_tokens": 2}
        assert c.post("/generate", json=body).status_code == 401
        r = c.post("/generate", json=body, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        assert c.get("/v1/models").status_code == 401
        assert c.get("/metrics").status_code == 401
        assert c.get("/health").json() == {"status": "ok"}  # open, says nothing else
        ok = {"Authorization": f"Bearer {key}"}
        assert c.post("/generate", json=body, headers=ok).status_code == 200
        assert "serving_version" in c.get("/health", headers=ok).json()


def test_non_loopback_bind_needs_a_key(workspace):
    with pytest.raises(ConfigError, match="api_keys"):
        create_app(workspace, load_cfg(workspace, host="0.0.0.0"))
    with pytest.raises(ConfigError, match="sha256"):
        create_app(workspace, load_cfg(workspace, host="0.0.0.0", api_keys=["plain-key"]))
    create_app(workspace, load_cfg(workspace, host="0.0.0.0", api_keys=[hash_key("k")]))
    create_app(workspace, load_cfg(workspace, host="::1"))


def _ask(c, model: str | None = None) -> dict:
    body: dict = {"prompt": "the model learns", "max_tokens": 12}
    if model is not None:
        body["model"] = model
    r = c.post("/generate", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_adapter_switch_and_hot_reload(workspace, tiny_model_dir, hold):
    v1 = add_version(workspace, tiny_model_dir, "v001_20260101T000000_first", seed=1)
    v2 = add_version(workspace, tiny_model_dir, "v002_20260102T000000_second", seed=2)
    set_serving(workspace, v1)
    app = create_app(workspace, load_cfg(workspace, adapter_pool=2, reload_seconds=0.2))
    st = app.state.mentor
    with TestClient(app) as c:
        base = _ask(c, "base")
        a1 = _ask(c, "v001")
        a2 = _ask(c, "v002")
        assert a1["model"] == "v001" and a2["model"] == "v002"  # canonical ids
        assert len({base["text"], a1["text"], a2["text"]}) == 3, (base, a1, a2)
        assert _ask(c)["text"] == a1["text"]  # serving (default) is v001
        assert _ask(c, "base")["text"] == base["text"]  # the base is untouched by adapters
        assert sorted(st.pool.loaded()) == ["v001", "v002"]

        # hold the next generation until released
        with hold(st.pool.engines[st.pool.base], "generate") as held:
            result: dict = {}
            t = threading.Thread(target=lambda: result.update(_ask(c)))
            t.start()
            held.wait_entered()
            set_serving(workspace, v2)  # the daemon promotes while a request is in flight
            deadline = time.monotonic() + 10
            while c.get("/health").json()["serving_version"] != "v002":
                assert time.monotonic() < deadline, "promotion not picked up"
                time.sleep(0.05)
            held.release()
            t.join(60)
        assert result["model"] == "v001" and result["text"] == a1["text"]  # finished on the old one
        after = _ask(c)
        assert after["model"] == "v002" and after["text"] == a2["text"]  # next one on the new one
        assert f'mentor_serve_serving_version{{version="{v2}"}} 1.0' in c.get("/metrics").text

        # a third version with a pool of 2: the least recently used idle adapter goes
        add_version(workspace, tiny_model_dir, "v003_20260103T000000_third", seed=3)
        a3 = _ask(c, "v003")
        assert a3["text"] not in (a1["text"], a2["text"])
        assert len(st.pool.loaded()) == 2 and "v003" in st.pool.loaded()
        assert _ask(c, "v001")["text"] == a1["text"]  # reloaded after eviction, same answer
        models = {m["id"]: m for m in c.get("/v1/models").json()["data"]}
        assert models["serving"]["version"] == "v002" and models["v001"]["aliases"] == [v1]


def test_current_adapter(workspace, tiny_model_dir):
    app = create_app(workspace, load_cfg(workspace))
    with TestClient(app) as c:
        r = c.post("/generate", json={"prompt": "x", "model": "current", "max_tokens": 2})
        assert r.status_code == 404  # nothing trained yet
        make_adapter(tiny_model_dir, workspace.current, seed=5)
        r = c.post("/generate", json={"prompt": "x", "model": "current", "max_tokens": 2})
        assert r.status_code == 200 and r.json()["model"].startswith("current@")


def test_the_api_serves_the_dashboard_and_nothing_of_the_workspace(client):
    page = client.get("/dashboard/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert client.get("/api/dash/overview").status_code == 200
    assert client.get("/dashboard/static/plotly.min.js").status_code == 200
    for path in (
        "/mentor.yaml",
        "/state.db",
        "/dashboard/static/../../mentor.yaml",
        "/dashboard/../state.db",
    ):
        assert client.get(path).status_code == 404, path
