"""The size cap, the concurrency cap and the route metrics, on the real app (never started:
every request here is refused or answered before a model is needed)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mentor import config as config_mod
from mentor.serve.app import create_app
from mentor.serve.guard import route_label
from mentor.serve.security import hash_key

KEY = "mentor-guard-key"


def make(ws, **serve):
    cfg = config_mod.load(ws.config_file)
    for k, v in serve.items():
        setattr(cfg.serve, k, v)
    app = create_app(ws, cfg)
    return app, TestClient(app)


def test_body_over_the_cap_is_413_declared_or_streamed(workspace):
    _, c = make(workspace, max_request_bytes=2000)
    for content in (b"x" * 2001, (b"x" * 600 for _ in range(4))):  # the second is chunked
        r = c.post("/generate", content=content, headers={"content-type": "application/json"})
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "request_too_large"
        assert "serve.max_request_bytes" in r.json()["error"]["message"]
    r = c.post("/generate", content=b"x" * 10, headers={"content-length": "abc"})
    assert r.status_code in (400, 413)
    # under the cap the body reaches the route (and is refused there for what it is)
    r = c.post("/generate", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_body"


def test_concurrency_cap_comes_after_the_key_check(workspace):
    app, c = make(workspace, max_concurrency=2, api_keys=[hash_key(KEY)])
    st = app.state.mentor
    st.in_flight = 2  # two generations in flight
    body = {"prompt": "hi", "max_tokens": 2}
    r = c.post("/generate", json=body)
    assert r.status_code == 401  # a caller without a key learns nothing, not even "busy"
    r = c.post("/v1/completions", json={"prompt": "x"}, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert st.in_flight == 2  # a refusal takes no slot
    # reading routes are not capped
    assert c.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    text = c.get("/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    assert "mentor_serve_rejected_total 1.0" in text


def test_metrics_are_labelled_by_route_template(workspace):
    _, c = make(workspace)
    c.get("/v1/models")
    c.get("/api/dash/live", params={"run": "nope"})  # 404 from a known route
    c.get("/no/such/path/123")
    c.get("/dashboard/reports/a/b.md")
    text = c.get("/metrics").text
    assert 'mentor_serve_requests_total{route="/v1/models",status="200"} 1.0' in text
    assert 'mentor_serve_requests_total{route="/api/dash/live",status="404"} 1.0' in text
    assert 'mentor_serve_requests_total{route="other",status="404"} 1.0' in text
    assert 'route="/dashboard/reports/{name:path}",status="404"' in text
    assert "/no/such/path" not in text  # made-up paths never become labels


def test_route_label_without_a_route():
    assert route_label({}) == "other"
    assert route_label({"route": object()}) == "other"
