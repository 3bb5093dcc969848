"""Step time of candidate demo model shapes (docs/demo.md): one training step (forward, backward,
fused AdamW) on a pack of 768 tokens holding demo-sized examples (150-200 tokens), with mentor's
packed attention, in fp32 on the CPU, at the thread count given. Models are random Qwen3 configs
with the demo tokenizer's vocabulary (2,270) and tied embeddings; nothing is trained to a result.
The shapes take turns (``--rounds`` rounds of ``--steps`` steps each) and each reports its median
round, so a change in the machine's speed during the run (a shared host) falls on every shape.

    PYTHONPATH=src python benchmarks/demo_shapes.py [--threads 2] [--rounds 5] [--steps 10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import torch

PACK = 768
VOCAB = 2270
SHAPES = {  # name: (hidden, layers, ffn)
    "128x4 (xs; the demo before)": (128, 4, 384),
    "128x4, FFN 256": (128, 4, 256),
    "96x4": (96, 4, 288),
    "128x3": (128, 3, 384),
    "96x3 (the demo now)": (96, 3, 288),
}


def pack(i: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = random.Random(i)
    lengths, total = [], 0
    while total < PACK - 200:
        lengths.append(rng.randint(150, 200))
        total += lengths[-1]
    lengths.append(PACK - total)
    ids = torch.randint(0, VOCAB, (1, PACK), generator=torch.Generator().manual_seed(i))
    return ids, torch.cat([torch.arange(n) for n in lengths]).unsqueeze(0)


def build(hidden: int, layers: int, ffn: int, attn: str) -> tuple[Any, Any]:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    cfg = Qwen3Config(
        vocab_size=VOCAB,
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden // 4,
        tie_word_embeddings=True,
        attn_implementation=attn,
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(cfg).train()
    return model, torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)


def seconds_per_step(model: Any, opt: Any, steps: int, first: int) -> float:
    t0 = time.perf_counter()
    for i in range(first, first + steps):
        ids, pos = pack(i)
        model(input_ids=ids, labels=ids, position_ids=pos).loss.backward()
        opt.step()
        opt.zero_grad()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    from mentor.models.attention import register_packed_sdpa

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    attn = register_packed_sdpa()
    models = {name: build(*shape, attn) for name, shape in SHAPES.items()}
    for model, opt in models.values():
        seconds_per_step(model, opt, 3, 0)  # warm-up
    rounds: dict[str, list[float]] = {name: [] for name in models}
    for r in range(args.rounds):
        for name, (model, opt) in models.items():
            rounds[name].append(seconds_per_step(model, opt, args.steps, 100 + r * args.steps))
    print(f"{'shape':30s} {'params':>10s} {'ms/step':>8s} {'tokens/s':>9s}")
    for name, (model, _) in models.items():
        dt = statistics.median(rounds[name])
        params = sum(p.numel() for p in model.parameters())
        print(f"{name:30s} {params:10,d} {dt * 1000:8.0f} {PACK / dt:9,.0f}", flush=True)


if __name__ == "__main__":
    main()
