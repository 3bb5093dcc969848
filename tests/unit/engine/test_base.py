"""The engine protocol: every engine implements every method of it, with its signature, so
callers use them directly instead of probing with getattr."""

from __future__ import annotations

import inspect

import pytest

from helpers.replay import ReplayEngine
from mentor.engine import Engine
from mentor.engine.base import trim_at_stop
from mentor.engine.hf import HFEngine
from mentor.engine.vllm import VLLMEngine
from mentor.errors import ConfigError

METHODS = sorted(
    n for n, v in vars(Engine).items() if not n.startswith("_") and inspect.isfunction(v)
)


@pytest.mark.parametrize("cls", [HFEngine, VLLMEngine, ReplayEngine])
def test_every_engine_implements_the_protocol(cls: type) -> None:
    assert {"generate", "stream", "load_adapter", "unload_adapter", "nll"} <= set(METHODS)
    for name in METHODS:
        impl = getattr(cls, name, None)
        assert callable(impl), f"{cls.__name__}.{name} missing"
        want = list(inspect.signature(getattr(Engine, name)).parameters)
        assert list(inspect.signature(impl).parameters) == want, f"{cls.__name__}.{name}"


def test_vllm_scores_no_likelihoods_and_says_so() -> None:
    eng = VLLMEngine.__new__(VLLMEngine)  # no GPU here: the method needs no loaded model
    with pytest.raises(ConfigError, match="backend hf"):
        eng.nll({}, adapter=None)


def test_trim_at_stop_cuts_at_the_earliest_stop() -> None:
    assert trim_at_stop("abc END def STOP", ["STOP", "END"]) == ("abc ", True)
    assert trim_at_stop("abc", ["", "x"]) == ("abc", False)
