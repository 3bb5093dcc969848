"""Every GPU measurement of issue 19 in one call, one JSON file (run by ``gpu_check.sh``).

In order of importance, each in its own process with its own time limit, all inside one
deadline (``--budget``, 450 s: the device allows 600 s a call), so what did not fit is
recorded as skipped instead of losing the file:

1. ``train``: training tokens/s against the plain recipe (Qwen3-0.6B shape, random weights,
   bf16, seq 1024), share of bf16 peak, and every fast-path switch flipped against mentor's
   defaults (chunked loss off, varlen attention off, plain AdamW, LoRA dropout 0);
2. ``memory``: the default settings (batch 2 x accumulation 8) at ``max_length`` 3072: peak
   ``torch.cuda.max_memory_allocated`` against the 20 GiB target and the memory predictor;
3. ``eval`` and ``eval_continuous``: the 300-puzzle suite, static batches and continuous
   batching (the default follows the faster);
4. ``tests_gpu``: the bf16 correctness tests under ``tests/gpu``;
5. ``latency_1``: one 700-token answer at batch 1 (the 3 s serving target);
6. ``compile``: torch.compile of the model against the defaults.

``--cpu-smoke`` runs the same steps on the CPU with the tiny model and tiny sizes, so the
scripts are known to work before a GPU is lent.

    python3 benchmarks/perf/gpu_check.py --out /tmp/gpu-out/gpu_check.json
    python3 benchmarks/perf/gpu_check.py --cpu-smoke --out /tmp/smoke.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from harness import run_json

TRAIN = "benchmarks/perf/train.py"
EVAL = "benchmarks/perf/eval.py"
SWITCHES = [
    "training.chunked_loss=off",
    "--no-varlen",
    "training.optimizer=adamw_torch",
    "training.lora_dropout=0",
]


def steps(smoke: bool) -> list[tuple[str, list[str], float]]:
    """(name, python arguments, time limit in seconds) of each measurement."""
    if smoke:
        train = [TRAIN, "--steps", "2", "--rows", "40", "--plain-steps", "1"]
        return [
            ("train", [*train, *_compare(["training.chunked_loss=on", "--no-varlen"])], 600),
            ("memory", [TRAIN, "--no-plain", "--steps", "1", "--rows", "40", "--max-length", "1024"], 300),
            ("eval", [EVAL, "--limit", "8", "--plain-limit", "2", "--max-new-tokens", "8"], 300),
            ("eval_continuous", [EVAL, "--limit", "8", "--plain-limit", "2", "--max-new-tokens", "8", "--continuous"], 300),
            ("tests_gpu", ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/gpu"], 200),
            ("latency_1", [EVAL, "--limit", "1", "--plain-limit", "1", "--max-new-tokens", "16", "--batch-size", "1"], 200),
        ]  # fmt: skip
    train = [TRAIN, "--gpu", "--steps", "8", "--rows", "600", "--plain-steps", "2"]
    memory = [TRAIN, "--gpu", "--no-plain", "--steps", "3", "--rows", "300", "--max-length", "3072"]
    memory += ["--set", "training.batch_size=2", "--set", "training.grad_accum=8"]
    return [
        ("train", [*train, *_compare(SWITCHES)], 200),
        ("memory", memory, 80),
        ("eval", [EVAL, "--gpu", "--plain-limit", "4"], 90),
        ("eval_continuous", [EVAL, "--gpu", "--plain-limit", "4", "--continuous"], 90),
        ("tests_gpu", ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/gpu"], 60),
        ("latency_1", [EVAL, "--gpu", "--limit", "1", "--plain-limit", "1", "--max-new-tokens", "700", "--batch-size", "1"], 45),
        ("compile", [TRAIN, "--gpu", "--no-plain", "--steps", "8", "--rows", "600", *_compare(["training.compile=true"])], 90),
    ]  # fmt: skip


def _compare(variants: list[str]) -> list[str]:
    return [f"--compare={v}" for v in variants]  # "=": a value may start with --


def environment() -> dict[str, Any]:
    """Versions and the device, so every figure names what it ran on."""
    env: dict[str, Any] = {"python": platform.python_version(), "host": platform.node()}
    try:
        import peft
        import torch
        import transformers

        env.update(torch=torch.__version__, transformers=transformers.__version__)
        env.update(peft=peft.__version__, cuda=torch.version.cuda)
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            env.update(gpu=p.name, gpu_mem_gib=round(p.total_memory / 2**30, 1))
            env["bf16"] = torch.cuda.is_bf16_supported()
    except Exception as err:  # the file must still be written
        env["error"] = repr(err)
    return env


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue's targets are about, pulled out of each step's JSON."""

    def fig(name: str) -> dict[str, Any]:
        return (results.get(name) or {}).get("figures") or {}

    out: dict[str, Any] = {}
    train = fig("train")
    if train:
        mentor = train.get("mentor", {})
        out["train_ratio"] = train.get("ratio")
        out["train_tokens_per_s"] = mentor.get("tokens_per_s")
        out["train_share_of_bf16_peak"] = mentor.get("share_of_bf16_peak")
        out["switches_ratio_to_default"] = {
            k: v.get("ratio_to_default") for k, v in (train.get("variants") or {}).items()
        }
    mem = fig("memory").get("mentor") or {}
    if mem:
        measured, predicted = mem.get("peak_mem_gib"), mem.get("predicted_peak_gib")
        out["memory_peak_gib"], out["memory_predicted_gib"] = measured, predicted
        if measured and predicted:
            out["memory_prediction_error"] = round(predicted / measured - 1, 3)
    for name in ("eval", "eval_continuous"):
        if fig(name):
            out[f"{name}_tokens_per_s"] = fig(name).get("mentor", {}).get("tokens_per_s")
            out[f"{name}_ratio"] = fig(name).get("ratio")
    lat = fig("latency_1").get("mentor") or {}
    if lat.get("puzzles_per_s"):
        out["latency_1_s"] = round(1 / lat["puzzles_per_s"], 2)
    comp = (fig("compile").get("variants") or {}).get("training.compile=true") or {}
    if comp:
        out["compile_ratio_to_default"] = comp.get("ratio_to_default")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny model, CPU, tiny sizes")
    ap.add_argument(
        "--budget", type=float, default=None, help="seconds for all steps (450; smoke 1800)"
    )
    ap.add_argument("--only", action="append", help="run only these steps")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    budget = a.budget or (1800.0 if a.cpu_smoke else 450.0)  # a shared CPU is slow
    record: dict[str, Any] = {"mode": "cpu-smoke" if a.cpu_smoke else "gpu"}
    record["environment"] = environment()
    results: dict[str, Any] = {}
    record["steps"] = results
    for name, args, limit in steps(a.cpu_smoke):
        if a.only and name not in a.only:
            continue
        left = budget - (time.monotonic() - t0)
        if left < min(limit, 30):
            results[name] = {"skipped": f"{left:.0f} s left of the budget"}
        else:
            results[name] = run_json(args, min(limit, left), want_json=args[0] != "-m")
            results[name]["command"] = "python3 " + " ".join(args)
        status = results[name].get("error") or results[name].get("skipped") or "ok"
        print(f"{name}: {status} ({results[name].get('seconds', 0)} s)", flush=True)
        record["summary"] = summary(results)
        record["seconds"] = round(time.monotonic() - t0, 1)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(record, indent=1))  # after every step: a kill loses little
    print(json.dumps(record["summary"]))
    broken = [n for n, r in results.items() if r.get("error")]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
