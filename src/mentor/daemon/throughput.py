"""How fast the model at hand trains here: a measured micro-benchmark for time estimates.

``mentor validate`` estimates a file's training time before anything was trained: a few
forward+backward+optimizer steps of the configured model (same method, LoRA settings, dtype,
device, micro-batch) on sequences of the file's median length, timed after one warm-up step.
The result is cached in ``data/cache/throughput.json`` under a key of everything that changes it
(model files, method, device, batch, length bucket, CPU threads), so it is measured once.
It measures the steps alone (no data loading, logging or checkpoints): an optimistic figure; the
last real training's rate (kv ``train.tokens_per_s``) is preferred when there is one.
"""

from __future__ import annotations

import json
import time
from typing import Any

from mentor.config import Config
from mentor.paths import Workspace, atomic_write_json


def cache_file(ws: Workspace) -> Any:
    return ws.cache / "throughput.json"


def length_bucket(tokens: int, max_length: int) -> int:
    """The next power of two (at least 16, at most ``max_length``): nearby lengths share a run."""
    n = 16
    while n < tokens:
        n *= 2
    return min(n, max_length)


def _key(cfg: Config, ws: Workspace, device: str, seq: int, threads: int) -> str:
    from mentor.models.loader import dir_hash

    t = cfg.training
    model = dir_hash(cfg.model_path(ws.home))[:16]
    return f"{model}:{t.method}:{cfg.model.dtype}:{device}:{t.batch_size}x{seq}:threads={threads}"


def micro_benchmark(ws: Workspace, cfg: Config, tokens: int) -> tuple[float, str]:
    """Training tokens/s of the model at hand for rows of about ``tokens`` tokens, and how it
    was obtained (measured now, or cached)."""
    import torch

    from mentor.models.loader import default_device

    device = default_device()
    seq = length_bucket(max(1, tokens), cfg.training.max_length)
    key = _key(cfg, ws, device, seq, torch.get_num_threads())
    path = cache_file(ws)
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    if key in cached:
        return float(cached[key]["tokens_per_s"]), "micro-benchmark (cached)"
    rate = _measure(ws, cfg, device, seq)
    steps = cfg.data.estimate_steps
    cached[key] = {"tokens_per_s": rate, "seq": seq, "steps": steps, "ts": time.time()}
    atomic_write_json(path, cached)
    return rate, f"micro-benchmark ({steps} steps of {cfg.training.batch_size}x{seq} tokens)"


def _measure(ws: Workspace, cfg: Config, device: str, seq: int) -> float:
    import torch

    from mentor.train.model import build_model

    model = build_model(ws, cfg, resume=False, device=device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-6)
    gen = torch.Generator().manual_seed(0)
    vocab = int(model.config.vocab_size)
    ids = torch.randint(0, vocab, (cfg.training.batch_size, seq), generator=gen).to(device)
    steps = cfg.data.estimate_steps

    def step() -> None:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up: allocation, kernels
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return ids.numel() * steps / max(time.perf_counter() - t0, 1e-9)
