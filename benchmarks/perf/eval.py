"""Evaluation speed: mentor's engine vs the plain loop, same model, same prompts, one run.

The SYLLO suite (syllo_easy_100 + syllo_medium_100 + syllo_hard_100, 300 puzzles) rendered with
the model's chat template, generated end to end through ``mentor.engine`` (batched, length-sorted,
left-padded) and through the plain recipe (one ``model.generate`` call per puzzle, no batching).
Both sides use the same ``max_new_tokens`` and stop at the same end-of-turn tokens; an untrained
model rarely stops early, so both generate up to the cap (a throughput measurement).

The plain loop is slow, so by default it runs on the first ``--plain-limit`` puzzles; its rates
(new tokens/s, puzzles/s) are per second, so the ratio compares like with like.

    .venv/bin/python benchmarks/perf/eval.py                      # CPU, tiny model
    .venv/bin/python benchmarks/perf/eval.py --gpu                # Qwen3-0.6B shape, random bf16
    .venv/bin/python benchmarks/perf/eval.py --gpu --limit 64 --max-new-tokens 64   # short run
    .venv/bin/python benchmarks/perf/eval.py --gpu --continuous   # continuous batching

The last line printed is one JSON object with both throughputs and the ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def build_model(gpu: bool, tmp: Path, assets: Path | None):
    import torch

    from mentor.data.chat import ChatRenderer
    from mentor.models.loader import load_tokenizer

    if assets is not None:
        tiny = assets / "tiny"
    else:
        from mentor.models.tiny import build_tiny

        tiny = build_tiny(tmp / "tiny", size="xs", seed=0)
    tok = load_tokenizer(tiny)
    renderer = ChatRenderer(tok)  # the default chat settings (mentor.yaml defaults)
    if not gpu:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32).eval()
        return model, tok, renderer, "cpu", "tiny-xs fp32"
    from mentor.models.tiny import random_qwen3_0_6b

    model = random_qwen3_0_6b(tok, seed=0, device="cuda").eval()
    return model, tok, renderer, "cuda", "Qwen3-0.6B shape, random bf16"


def _figures(puzzles: int, new_tokens: int, seconds: float) -> dict:
    return {
        "puzzles": puzzles,
        "new_tokens": new_tokens,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(new_tokens / seconds, 1),
        "puzzles_per_s": round(puzzles / seconds, 3),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--gpu", action="store_true", help="Qwen3-0.6B shape on CUDA (bf16, random weights)"
    )
    ap.add_argument(
        "--limit", type=int, default=300, help="puzzles through mentor's engine (max 300)"
    )
    ap.add_argument("--plain-limit", type=int, default=None, help="puzzles through the plain loop")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="cap of both sides")
    ap.add_argument("--batch-size", type=int, default=None, help="engine batch size")
    ap.add_argument("--static-cache", action="store_true", help="engine: static KV cache (GPU)")
    ap.add_argument(
        "--continuous",
        action="store_true",
        help="engine: transformers continuous batching (eval.continuous_batching)",
    )
    ap.add_argument(
        "--export-assets", type=Path, help="write the tiny model + prompts here and exit"
    )
    ap.add_argument(
        "--assets", type=Path, help="use exported assets (needs neither pydantic nor SYLLO deps)"
    )
    args = ap.parse_args(argv)

    import torch

    from mentor.engine.base import GenRequest
    from mentor.engine.hf import HFEngine

    max_new = args.max_new_tokens or (256 if args.gpu else 64)
    batch = args.batch_size or (256 if args.gpu else 32)
    plain_n = args.plain_limit or (32 if args.gpu else 20)
    if args.export_assets is not None:
        from mentor.evals.tasks import benchmark_task
        from mentor.models.tiny import build_tiny

        build_tiny(args.export_assets / "tiny", size="xs", seed=0)
        msgs = [
            i.prompt_messages
            for b in ("syllo_easy_100", "syllo_medium_100", "syllo_hard_100")
            for i in benchmark_task(b).items
        ]
        (args.export_assets / "prompts.json").write_text(json.dumps(msgs))
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        model, tok, renderer, device, desc = build_model(args.gpu, Path(tmp), args.assets)
    if args.assets is not None:
        all_msgs = json.loads((args.assets / "prompts.json").read_text())
    else:
        from mentor.evals.tasks import benchmark_task

        all_msgs = [
            i.prompt_messages
            for b in ("syllo_easy_100", "syllo_medium_100", "syllo_hard_100")
            for i in benchmark_task(b).items
        ]
    prompts = [renderer.prompt(m) for m in all_msgs[: args.limit]]
    # interleave tiers for the plain subset so it sees easy, medium and hard puzzles
    plain_prompts = [
        prompts[(k * 100) % len(prompts) + k // 3] for k in range(min(plain_n, len(prompts)))
    ]

    engine = HFEngine(
        model,
        tok,
        renderer,
        device=device,
        static_cache=args.static_cache,
        continuous=args.continuous,
    )
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    # warm-up (kernels, allocator) on both paths, outside the timings
    engine.generate([GenRequest(p, max_new_tokens=4) for p in prompts[:2]])

    sync()
    t0 = time.perf_counter()
    res = engine.generate(
        [GenRequest(p, max_new_tokens=max_new) for p in prompts], batch_size=batch
    )
    sync()
    t_engine = time.perf_counter() - t0
    n_engine = sum(r.new_tokens for r in res)

    stop_ids = engine.stop_ids
    n_plain = 0
    sync()
    t0 = time.perf_counter()
    for p in plain_prompts:
        enc = tok(p, return_tensors="pt", add_special_tokens=False).to(device)
        with torch.inference_mode():
            out = model.generate(
                **enc,
                max_new_tokens=max_new,
                do_sample=False,
                eos_token_id=stop_ids,
                pad_token_id=tok.pad_token_id,
            )
        new = out[0, enc["input_ids"].shape[1] :].tolist()
        n_plain += next((i + 1 for i, t in enumerate(new) if t in stop_ids), len(new))
    sync()
    t_plain = time.perf_counter() - t0

    mentor = _figures(len(prompts), n_engine, t_engine)
    plain = _figures(len(plain_prompts), n_plain, t_plain)
    result = {
        "benchmark": "eval",
        "model": desc,
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "max_new_tokens": max_new,
        "batch_size": batch,
        "static_cache": args.static_cache,
        "continuous": args.continuous,
        "mentor": mentor,
        "plain": plain,
        "ratio": round(mentor["tokens_per_s"] / plain["tokens_per_s"], 2),
        "puzzles_ratio": round(mentor["puzzles_per_s"] / plain["puzzles_per_s"], 2),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
