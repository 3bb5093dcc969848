"""Fixtures of the integration tests: a real uvicorn server in a thread on a free local port,
SYLLO files made by mentor's own generator, and a small quick training config."""

from __future__ import annotations

import contextlib
import inspect
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mentor import config as config_mod
from mentor.config import Config


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serving(app: Any, start_timeout: float = 120.0) -> Iterator[str]:
    import uvicorn

    from mentor.serve.server import uvicorn_config

    host, port = "127.0.0.1", free_port()
    server = uvicorn.Server(uvicorn_config(app, host, port, "warning"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, name="mentor-test-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {host}:{port} did not start")
            time.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture()
def live_server() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """``with live_server(app) as url: ...``: the app served by uvicorn (lifespan on) until the
    block ends, as ``mentor serve`` runs it."""
    return _serving


@dataclass
class Held:
    """A call held at its start: ``entered`` once a caller is waiting, ``release()`` lets it go."""

    entered: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)

    def wait_entered(self, timeout: float = 60.0) -> None:
        assert self.entered.wait(timeout), "the held call was never made"

    def release(self) -> None:
        self.gate.set()


@contextlib.contextmanager
def _holding(obj: Any, name: str) -> Iterator[Held]:
    real = getattr(obj, name)
    held = Held()

    def wait() -> None:
        held.entered.set()
        assert held.gate.wait(60), "held call never released"

    if inspect.isgeneratorfunction(real):

        def stand_in(*args: Any, **kwargs: Any) -> Any:
            wait()
            yield from real(*args, **kwargs)
    else:

        def stand_in(*args: Any, **kwargs: Any) -> Any:
            wait()
            return real(*args, **kwargs)

    setattr(obj, name, stand_in)
    try:
        yield held
    finally:
        held.release()  # never leave a caller waiting on a failed test
        setattr(obj, name, real)


@pytest.fixture()
def hold() -> Callable[[Any, str], contextlib.AbstractContextManager[Held]]:
    """``with hold(engine, "generate") as h:`` every call of ``engine.generate`` waits at its
    start until ``h.release()`` (or the block ends): a request in flight, on demand."""
    return _holding


@pytest.fixture()
def syllo_file(tmp_path: Path) -> Callable[..., Path]:
    """``syllo_file(name, n, seed=1, tier="easy")``: a JSONL file of ``n`` generated puzzles
    (easy rows are 150-360 tokens with the tiny scaffold tokenizer, about two to a 512-token
    pack; hard rows 400-670)."""
    from mentor.tasks.syllo.generate import generate

    def make(name: str, n: int, seed: int = 1, tier: str = "easy") -> Path:
        f = tmp_path / name
        f.write_text("".join(json.dumps(r) + "\n" for r in generate(n, seed, tier=tier)))
        return f

    return make


@pytest.fixture()
def train_cfg(workspace) -> Callable[..., Config]:
    """``train_cfg(**training)``: the workspace's config made small and quick (LoRA r 4, batch 2,
    no accumulation, max_length 512, log every step, warmup 3 steps, no live previews, no periodic validation, 2 held-out rows
    of 20%), with ``training`` keys overridden."""

    def make(**training: object) -> Config:
        cfg = config_mod.load(workspace.config_file)
        t = cfg.training
        t.max_length, t.lora_r, t.lora_alpha, t.batch_size, t.grad_accum = 512, 4, 4, 2, 1
        t.logging_steps, t.save_steps, t.warmup_steps = 1, 1000, 3
        t.warmup_ratio = 1.0  # exactly warmup_steps: the lineage tests assert every LR
        t.learning_rate = 1e-3
        cfg.eval.val_every = 0
        cfg.eval.live_every = 0
        cfg.data.holdout_max = 2
        cfg.data.holdout_fraction = 0.2
        for k, v in training.items():
            setattr(t, k, v)
        return cfg

    return make
