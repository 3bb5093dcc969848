"""Decide bf16 autocast on the CPU by measurement, once per machine and model shape.

bf16 autocast doubled a tiny model's training throughput on a CPU with AMX / AVX-512 BF16 and
halved it on one without (DESIGN pitfalls, ``spec/demo-notes.md``): no constant and no CPU flag
list gets both right, and a flag does not say whether this shape's kernels use it. So when
``training.bf16`` is ``auto`` on the CPU, training times a few forward+backward passes of the
model at hand on its first micro-batch, with and without autocast, interleaved so a load change
hits both alike, and takes the faster. The figures and the choice are cached in the workspace
under a key of the machine (CPU model, threads, torch) and the model's shape, so later files and
runs reuse them without measuring again.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mentor.paths import atomic_write_json

log = logging.getLogger(__name__)


@dataclass
class PrecisionChoice:
    """The outcome: whether to train with bf16 autocast, and the seconds per step it rests on."""

    bf16: bool
    fp32_s: float
    bf16_s: float
    key: str
    cached: bool = False

    @property
    def speedup(self) -> float:
        """fp32 time over bf16 time: above 1 means bf16 autocast is faster here."""
        return self.fp32_s / self.bf16_s if self.bf16_s > 0 else 0.0

    def describe(self) -> str:
        pick = "bf16 autocast" if self.bf16 else "fp32"
        how = "cached" if self.cached else "measured"
        return (
            f"CPU precision: {pick} ({how}: fp32 {self.fp32_s * 1000:.0f} ms/step, "
            f"bf16 {self.bf16_s * 1000:.0f} ms/step, bf16 speedup x{self.speedup:.2f})"
        )


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key() -> str:
    """What decides CPU kernel speed: the CPU model, the threads torch uses, torch's version."""
    import torch

    return (
        f"{_cpu_name()}|{torch.get_num_threads()} threads|torch {torch.__version__}|"
        f"{torch.backends.cpu.get_cpu_capability()}"
    )


def shape_key(model: Any, extra: str = "") -> str:
    """The model's shape and trainable share (+ ``extra``: the caller's batch geometry; not the
    batch's own token count, which differs a little from file to file)."""
    cfg = getattr(model, "config", None)
    dims = [
        getattr(cfg, k, None)
        for k in (
            "model_type",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "intermediate_size",
            "vocab_size",
        )
    ]
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return f"{dims}|{trainable}/{params} trainable{extra and '|' + extra}"


def time_steps(
    step: Callable[[bool], None], *, rounds: int = 3, warmup: int = 1
) -> dict[bool, float]:
    """Median seconds of ``step(bf16)`` for each precision, interleaved round by round."""
    for _ in range(warmup):
        for bf16 in (False, True):
            step(bf16)
    times: dict[bool, list[float]] = {False: [], True: []}
    for r in range(rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        for bf16 in order:
            t0 = time.perf_counter()
            step(bf16)
            times[bf16].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def train_step(model: Any, batch: dict[str, Any]) -> Callable[[bool], None]:
    """One forward+backward of ``batch`` (which carries labels), weights untouched.

    Gradients are dropped after each pass and the RNG is forked, so measuring changes neither
    the weights nor the random stream training continues with (dropout, LoRA dropout).
    """
    import torch

    def step(bf16: bool) -> None:
        with torch.random.fork_rng(devices=[]):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(**batch).loss
            loss.backward()
        for p in model.parameters():
            p.grad = None

    return step


def choose(
    cache_file: Path,
    key: str,
    step: Callable[[bool], None],
    *,
    rounds: int = 3,
    warmup: int = 1,
) -> PrecisionChoice:
    """The cached choice for ``key``, else measure ``step`` both ways, cache and return it."""
    cache: dict[str, Any] = {}
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    hit = cache.get(key)
    if isinstance(hit, dict) and {"bf16", "fp32_s", "bf16_s"} <= hit.keys():
        choice = PrecisionChoice(
            bool(hit["bf16"]), float(hit["fp32_s"]), float(hit["bf16_s"]), key, cached=True
        )
        log.info("%s", choice.describe())
        return choice
    secs = time_steps(step, rounds=rounds, warmup=warmup)
    choice = PrecisionChoice(secs[True] < secs[False], secs[False], secs[True], key)
    record = {k: v for k, v in asdict(choice).items() if k not in ("key", "cached")}
    cache[key] = dict(record, measured_at=time.time(), pid=os.getpid())
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cache_file, cache)
    log.info("%s", choice.describe())
    return choice


def choose_for_model(
    model: Any, batch: dict[str, Any], cache_file: Path, *, extra: str = "", rounds: int = 3
) -> PrecisionChoice:
    """:func:`choose` for ``model`` training on ``batch``, keyed by machine and shape."""
    key = machine_key() + "||" + shape_key(model, extra)
    return choose(cache_file, key, train_step(model, batch), rounds=rounds)
