"""The one key check: the same 401 from the API and the dashboard, bearer / cookie / ?key= rules.

The apps are real (``create_app``, ``create_dashboard_app``) but never started: every route used
here answers without a model.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mentor import config as config_mod
from mentor.serve.app import create_app
from mentor.serve.auth import COOKIE
from mentor.serve.dashboard import create_dashboard_app
from mentor.serve.security import hash_key

KEY = "mentor-unit-key"
BEARER = {"Authorization": f"Bearer {KEY}"}
UNAUTHORIZED = {
    "error": {
        "message": "missing or wrong API key (Authorization: Bearer <key>)",
        "type": "authentication_error",
        "code": "invalid_api_key",
    }
}


def cfg_for(ws, host: str = "127.0.0.1", keys: bool = True):
    cfg = config_mod.load(ws.config_file)
    cfg.serve.host = host
    cfg.serve.api_keys = [hash_key(KEY)] if keys else []
    return cfg


def assert_401(r) -> None:
    assert r.status_code == 401, (r.request.url, r.text)
    assert r.json() == UNAUTHORIZED
    assert r.headers["www-authenticate"] == "Bearer"


def test_one_401_for_the_api_and_the_dashboard(workspace):
    """Off loopback every protected route of both apps refuses alike (the dashboard used to
    answer its own ``{"detail": ...}``)."""
    cfg = cfg_for(workspace, host="0.0.0.0")
    api = TestClient(create_app(workspace, cfg))
    dash = TestClient(create_dashboard_app(workspace, cfg))
    for client in (api, dash):
        for path in ("/api/dash/overview", "/dashboard/", "/dashboard/static/dash.js"):
            assert_401(client.get(path))
            assert_401(client.get(path, headers={"Authorization": "Bearer wrong"}))
            assert client.get(path, headers=BEARER).status_code == 200, path
    for path in ("/v1/models", "/metrics", "/openapi.json"):
        assert_401(api.get(path))
        assert_401(api.get(path, headers={"Authorization": f"Basic {KEY}"}))
        assert api.get(path, headers=BEARER).status_code == 200
    assert_401(api.post("/generate", json={"prompt": "hi"}))
    assert "/generate" in api.get("/openapi.json", headers=BEARER).json()["paths"]


@pytest.mark.parametrize("auth", ["Bearer", "bearer  {key} ", "Token {key}", "Bearer {key}x"])
def test_bearer_header_forms(workspace, auth):
    api = TestClient(create_app(workspace, cfg_for(workspace)))
    r = api.get("/v1/models", headers={"Authorization": auth.format(key=KEY)})
    assert r.status_code == (200 if auth.startswith("bearer ") else 401)


def test_cookie_and_query_key_are_the_dashboards_only(workspace):
    cfg = cfg_for(workspace, host="0.0.0.0")
    api = TestClient(create_app(workspace, cfg))
    # a wrong ?key= sets nothing
    r = api.get("/dashboard/live", params={"key": "wrong"}, follow_redirects=False)
    assert_401(r)
    assert "set-cookie" not in r.headers
    # ?key= works on pages only (never on the JSON), then the cookie carries the browser
    assert_401(api.get("/api/dash/overview", params={"key": KEY}))
    r = api.get("/dashboard/live", params={"key": KEY}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/live"
    assert "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    cookie = api.cookies.get(COOKIE)
    assert cookie and KEY not in cookie and hash_key(KEY) not in cookie  # never the key
    assert api.get("/api/dash/overview").status_code == 200
    assert api.get("/dashboard/evals").status_code == 200
    # the API itself takes bearer keys only
    assert_401(api.get("/v1/models"))
    assert_401(api.get("/v1/models", params={"key": KEY}))


def test_on_loopback_the_dashboard_is_open_and_the_api_keyed(workspace):
    api = TestClient(create_app(workspace, cfg_for(workspace)))
    assert api.get("/api/dash/overview").status_code == 200
    assert api.get("/dashboard/").status_code == 200
    assert_401(api.get("/v1/models"))
    r = api.get("/dashboard/", params={"key": KEY}, follow_redirects=False)
    assert r.status_code == 200 and "set-cookie" not in r.headers  # nothing to remember


def test_health_is_open_and_says_more_with_a_key(workspace):
    api = TestClient(create_app(workspace, cfg_for(workspace)))
    assert api.get("/health").json() == {"status": "starting"}  # never started: no model yet
    full = api.get("/health", headers=BEARER).json()
    assert full["serving_version"] == "base" and full["in_flight"] == 0
    assert full["adapters_loaded"] == []
    open_api = TestClient(create_app(workspace, cfg_for(workspace, keys=False)))
    assert "queue_depth" in open_api.get("/health").json()


def test_the_cookie_is_a_keyed_hash_under_a_workspace_secret(workspace):
    """The cookie held the raw API key; now it holds HMAC(workspace secret, sha256(key)): a
    forged value, the key's plain hash or the key itself are refused, and a new secret (or a
    revoked key) signs the browser out."""
    import stat

    from mentor.serve.security import cookie_value, secret_path, workspace_secret

    cfg = cfg_for(workspace, host="0.0.0.0")
    api = TestClient(create_app(workspace, cfg))
    r = api.get("/dashboard/", params={"key": KEY}, follow_redirects=False)
    value = api.cookies.get(COOKIE)
    secret = workspace_secret(workspace)
    assert value == cookie_value(secret, hash_key(KEY))
    assert stat.S_IMODE(secret_path(workspace).stat().st_mode) == 0o600
    assert api.get("/api/dash/overview").status_code == 200
    for forged in (KEY, hash_key(KEY), "0" * 64):
        other = TestClient(create_app(workspace, cfg), cookies={COOKIE: forged})
        assert_401(other.get("/api/dash/overview"))
    # a second app of the same workspace reads the same secret: the cookie still works
    again = TestClient(create_app(workspace, cfg), cookies={COOKIE: value})
    assert again.get("/api/dash/overview").status_code == 200
    # the key revoked: the cookie is worthless
    revoked = cfg_for(workspace, host="0.0.0.0")
    revoked.serve.api_keys = [hash_key("another-key")]
    assert_401(
        TestClient(create_app(workspace, revoked), cookies={COOKIE: value}).get("/dashboard/")
    )
    # a new secret signs every browser out
    secret_path(workspace).unlink()
    assert_401(TestClient(create_app(workspace, cfg), cookies={COOKIE: value}).get("/dashboard/"))
    assert r.status_code == 303
