"""Keys and the bind rule (no HTTP): hashes only in the config, loopback unless a key is set."""

from __future__ import annotations

import pytest

from mentor import config as config_mod
from mentor.errors import ConfigError
from mentor.serve.security import check_bind, hash_key, is_loopback, key_ok, needs_key, new_key


def test_keys():
    key, digest = new_key()
    assert digest == hash_key(key) and len(digest) == 64
    assert key_ok(key, ["0" * 64, digest])
    assert key_ok(key, [digest.upper()])  # a hash pasted in capitals still matches
    assert not key_ok(key + "x", [digest])
    assert not key_ok(None, [digest]) and not key_ok("", [digest])
    assert not key_ok(key, [])


def test_bind_rule():
    for host in ("127.0.0.1", "127.0.0.5", "localhost", "::1", "[::1]"):
        assert is_loopback(host)
    for host in ("0.0.0.0", "::", "10.0.0.1", "example.com"):
        assert not is_loopback(host)
    cfg = config_mod.Config()
    check_bind(cfg)
    assert not needs_key(cfg)
    cfg.serve.host = "0.0.0.0"
    assert needs_key(cfg)
    with pytest.raises(ConfigError, match="refusing"):
        check_bind(cfg)
    cfg.serve.api_keys = ["not-a-hash"]
    with pytest.raises(ConfigError, match="sha256"):
        check_bind(cfg)
    cfg.serve.api_keys = [hash_key("k")]
    check_bind(cfg)
