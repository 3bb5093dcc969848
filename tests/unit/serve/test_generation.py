"""The request rules shared by /generate and the OpenAI routes: stop strings and max_tokens."""

from __future__ import annotations

import pytest

from mentor import config as config_mod
from mentor.serve.errors import ApiError
from mentor.serve.generation import max_tokens, stops
from mentor.serve.schemas import MAX_STOP_CHARS, MAX_STOPS


def test_stops():
    assert stops(None) == [] and stops("") == []
    assert stops("END") == ["END"]
    assert stops(["a", "", "b"]) == ["a", "b"]
    assert len(stops(["s"] * MAX_STOPS)) == MAX_STOPS
    for bad in (["s"] * (MAX_STOPS + 1), ["x" * (MAX_STOP_CHARS + 1)]):
        with pytest.raises(ApiError) as err:
            stops(bad)
        assert err.value.status == 400 and err.value.code == "invalid_stop"


def test_max_tokens():
    cfg = config_mod.Config()
    cfg.serve.max_tokens, cfg.serve.default_max_tokens = 100, 20
    assert max_tokens(cfg) == 20 and max_tokens(cfg, None, None) == 20
    assert max_tokens(cfg, None, 7) == 7  # the first value given wins (max_completion_tokens)
    assert max_tokens(cfg, 5, 7) == 5
    assert max_tokens(cfg, 100) == 100
    with pytest.raises(ApiError) as err:
        max_tokens(cfg, 101)
    assert err.value.code == "max_tokens_too_large" and "serve.max_tokens" in err.value.message
    cfg.serve.default_max_tokens = 500  # a default above the cap is clipped, not refused
    assert max_tokens(cfg) == 100
