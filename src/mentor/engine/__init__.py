"""Batched generation used by everything that generates (DESIGN.md, "one template, one engine").

``build_engine(model_path, adapter=..., cfg=cfg)`` gives an :class:`Engine`; backends are named
in a small registry: ``hf`` (transformers, default), ``vllm`` (optional, GPU only). More can be
registered (``register_backend(name, factory)``); the tests register a replay double this way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mentor.engine.base import BASE_ADAPTER, Engine, GenRequest, GenResult
from mentor.errors import ConfigError

__all__ = [
    "BACKENDS",
    "BASE_ADAPTER",
    "Engine",
    "GenRequest",
    "GenResult",
    "build_engine",
    "register_backend",
]

BackendFactory = Callable[..., Engine]


def _hf(model_path: Path, adapter: Path | None, cfg: Any, **options: Any) -> Engine:
    from mentor.engine.hf import build_hf

    return build_hf(model_path, adapter, cfg, **options)


def _vllm(model_path: Path, adapter: Path | None, cfg: Any, **options: Any) -> Engine:
    from mentor.engine.vllm import build_vllm

    return build_vllm(model_path, adapter, cfg, **options)


BACKENDS: dict[str, BackendFactory] = {"hf": _hf, "vllm": _vllm}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Add a backend: ``factory(model_path, adapter, cfg, **options) -> Engine``."""
    BACKENDS[name] = factory


def build_engine(
    model_path: Path,
    *,
    adapter: Path | None = None,
    cfg: Any,
    backend: str = "hf",
    **options: Any,
) -> Engine:
    """Load ``model_path`` (+ a PEFT ``adapter``) behind the named backend."""
    if backend not in BACKENDS:
        raise ConfigError(
            f"engine backend {backend!r}: unknown", hint=f"use one of {', '.join(BACKENDS)}"
        )
    return BACKENDS[backend](
        Path(model_path), Path(adapter) if adapter is not None else None, cfg, **options
    )
