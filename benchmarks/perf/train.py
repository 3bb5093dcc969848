"""Training throughput: mentor's train_file against the plain recipe, same data, model and steps.

Plain recipe: HF Trainer + PEFT LoRA r=64 (alpha 64, dropout 0.05, all linear), padded batches,
batch 2 x accumulation 8. mentor: its defaults (LoRA r=64, packing with first-fit-decreasing
windows; bf16 on a GPU, fp32 on the CPU: this CPU has no native bf16, where autocast halved
throughput).
Both report non-padding input tokens per second. The last line is one JSON object.

    .venv/bin/python benchmarks/perf/train.py --steps 4            # CPU, tiny model
    .venv/bin/python benchmarks/perf/train.py --gpu --steps 20     # Qwen3-0.6B shape, bf16, seq 1024
    .venv/bin/python benchmarks/perf/train.py --no-plain --repeats 2 \
        --compare training.chunked_loss=on --compare training.optimizer=adamw_torch_fused
                                     # mentor's defaults against each switch flipped, alternating

``--compare`` runs mentor again with those settings (comma-separated KEY=VALUE) after each
default run, ``--repeats`` times, and reports the fastest run of each with its ratio to the
fastest default run (``variants``); ``--no-varlen`` as a setting turns the CUDA varlen kernel off.
The mentor runs also report the memory predictor's figure beside the measured peak.

On a GPU mentor runs its 16 packed sequences per optimizer step as 8 x accumulation 2 (the
plain recipe keeps its 2 x 8 padded rows); the share of bf16 peak counts 4N FLOP per trained
token for LoRA (N = model parameters) against 797 TFLOP/s measured on an H200.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _model(tmp: Path, gpu: bool) -> Path:
    from mentor.models.tiny import build_tiny

    path = build_tiny(tmp / "tiny", size="xs", seed=0)
    if not gpu:
        return path
    from transformers import AutoTokenizer

    from mentor.models.tiny import random_qwen3_0_6b

    tok = AutoTokenizer.from_pretrained(str(path))
    model = random_qwen3_0_6b(tok, seed=0)
    out = tmp / "qwen3-0.6b-shape"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _data(tmp: Path, n: int) -> Path:
    from mentor.tasks.syllo.generate import generate

    f = tmp / "mix.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in generate(n, 11, tier="mixed")))
    return f


def run_mentor(
    model: Path,
    data: Path,
    steps: int,
    max_length: int,
    tmp: Path,
    gpu: bool,
    overrides: list[str] = (),  # type: ignore[assignment]
) -> dict:
    import shutil

    import torch

    from mentor.config import build
    from mentor.models import attention
    from mentor.paths import Workspace
    from mentor.train import train_file

    ws = Workspace(tmp / "ws")
    shutil.rmtree(ws.home, ignore_errors=True)  # every run starts a new lineage
    for d in ws.layout():
        d.mkdir(parents=True, exist_ok=True)
    sets = [o for o in overrides if o != "--no-varlen"]
    attention._VARLEN_FAILED.clear()
    if "--no-varlen" in overrides:  # the per-example fallback instead of the varlen kernel
        attention._VARLEN_FAILED.append(RuntimeError("turned off by the benchmark"))
    cfg = build({}, sets)
    cfg.model.path = str(model)
    cfg.training.max_length = max_length
    cfg.training.save_steps = 10**6
    cfg.eval.val_every = 0
    cfg.eval.live_every = 0  # previews have their own benchmark (preview_overhead.py)
    cfg.data.holdout_max = 0
    if gpu and not any(o.startswith("training.batch_size=") for o in sets):
        # the same 16 sequences per optimizer step, in fewer, larger micro-batches
        cfg.training.batch_size, cfg.training.grad_accum = 8, 2
    calls = {"n": 0}

    def control() -> str | None:
        calls["n"] += 1
        return "stop" if calls["n"] >= steps else None

    if gpu:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    o = train_file(ws, cfg, data, control=control)
    return {
        "settings": sets + [o for o in overrides if o == "--no-varlen"],
        "wall_s": round(time.perf_counter() - t0, 2),
        "predicted_peak_gib": predicted_peak(cfg, model, gpu),
        "tokens_per_s": o.metrics["tokens_per_s"],
        "trained_tokens_per_s": o.metrics["trained_tokens_per_s"],
        "steps": o.global_step,
        "rows": o.rows_trained,
        "peak_mem_gib": o.metrics["mem_gib"],
    }


def run_plain(model: Path, data: Path, steps: int, max_length: int, tmp: Path, gpu: bool) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    tok = AutoTokenizer.from_pretrained(str(model))
    tok.padding_side = "right"
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    feats = []
    for r in rows:
        msgs = r["messages"]
        prompt = tok.apply_chat_template(
            msgs[:-1], tokenize=False, add_generation_prompt=True, enable_thinking=False
        )
        full = tok.apply_chat_template(msgs, tokenize=False, enable_thinking=False)
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        ids = tok(full, add_special_tokens=False)["input_ids"][:max_length]
        labels = [-100] * min(len(p_ids), len(ids)) + ids[len(p_ids) :]
        feats.append({"input_ids": ids, "labels": labels})

    def collate(batch: list[dict]) -> dict:
        w = max(len(b["input_ids"]) for b in batch)
        pad = tok.pad_token_id
        return {
            "input_ids": torch.tensor(
                [b["input_ids"] + [pad] * (w - len(b["input_ids"])) for b in batch]
            ),
            "labels": torch.tensor([b["labels"] + [-100] * (w - len(b["labels"])) for b in batch]),
            "attention_mask": torch.tensor(
                [[1] * len(b["input_ids"]) + [0] * (w - len(b["input_ids"])) for b in batch]
            ),
        }

    dtype = torch.bfloat16 if gpu else torch.float32
    m = AutoModelForCausalLM.from_pretrained(str(model), dtype=dtype).to("cuda" if gpu else "cpu")
    m = get_peft_model(
        m,
        LoraConfig(
            r=64,
            lora_alpha=64,
            lora_dropout=0.05,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )
    counted = {"tokens": 0, "t0": 0.0}

    class Count(TrainerCallback):
        def on_train_begin(self, *a, **k):
            counted["t0"] = time.perf_counter()

    class Counting(Trainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            counted["tokens"] += int(inputs["attention_mask"].sum())
            return super().training_step(model, inputs, num_items_in_batch)

    args = TrainingArguments(
        output_dir=str(tmp / "plain"),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=8,
        max_steps=steps,
        learning_rate=2e-4,
        bf16=gpu,
        use_cpu=not gpu,
        report_to="none",
        save_strategy="no",
        logging_steps=10**6,
        disable_tqdm=True,
        remove_unused_columns=False,
    )
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    tr = Counting(
        model=m, args=args, train_dataset=feats, data_collator=collate, callbacks=[Count()]
    )
    tr.train()
    dt = time.perf_counter() - counted["t0"]
    mem = torch.cuda.max_memory_allocated() / 2**30 if gpu else 0.0
    if not gpu:
        import psutil

        mem = psutil.Process().memory_info().rss / 2**30
    return {
        "tokens_per_s": round(counted["tokens"] / dt, 1),
        "steps": steps,
        "peak_mem_gib": round(mem, 3),
    }


def predicted_peak(cfg: object, model: Path, gpu: bool) -> float | None:
    """The memory predictor's peak for this run's settings (``mentor.models.memory``)."""
    try:
        from mentor.models.memory import predict_for_config
    except ImportError:  # an older checkout
        return None
    return round(predict_for_config(cfg, model, "cuda" if gpu else "cpu").peak_gib, 3)


def compare(
    model: Path, data: Path, a: argparse.Namespace, max_length: int, tmp: Path
) -> tuple[dict, dict]:
    """mentor's defaults (+ ``--set``) and each ``--compare`` variant, alternating, ``--repeats``
    times: the fastest run of each, so machine load hits every variant alike."""
    runs: dict[str, list[dict]] = {"default": []}
    for _ in range(max(1, a.repeats)):
        runs["default"].append(run_mentor(model, data, a.steps, max_length, tmp, a.gpu, a.set))
        for variant in a.compare:
            extra = [x for x in variant.split(",") if x]
            r = run_mentor(model, data, a.steps, max_length, tmp, a.gpu, [*a.set, *extra])
            runs.setdefault(variant, []).append(r)
    best = {k: max(v, key=lambda r: r["tokens_per_s"]) for k, v in runs.items()}
    base = best.pop("default")
    for k, r in best.items():
        r["runs_tokens_per_s"] = [x["tokens_per_s"] for x in runs[k]]
        r["ratio_to_default"] = round(r["tokens_per_s"] / base["tokens_per_s"], 3)
    base["runs_tokens_per_s"] = [x["tokens_per_s"] for x in runs["default"]]
    return base, best


BF16_PEAK_FLOPS = 797e12  # measured bf16 matmul peak of one H200 (DESIGN.md)


def n_params(model: Path) -> int:
    from safetensors import safe_open

    n = 0
    for f in model.glob("*.safetensors"):
        with safe_open(str(f), "pt") as st:
            for k in st.keys():  # noqa: SIM118 (safe_open is not iterable)
                shape = st.get_slice(k).get_shape()
                size = 1
                for d in shape:
                    size *= d
                n += size
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument(
        "--gpu", action="store_true", help="Qwen3-0.6B shape, random weights, bf16, seq 1024"
    )
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--plain-steps", type=int, default=None, help="plain recipe (default --steps)")
    ap.add_argument("--no-plain", action="store_true", help="mentor only (switch comparisons)")
    ap.add_argument("--set", action="append", default=[], help="mentor config KEY=VALUE")
    ap.add_argument(
        "--compare", action="append", default=[], help="a variant: KEY=VALUE[,KEY=VALUE]"
    )
    ap.add_argument("--repeats", type=int, default=1, help="alternating runs of each variant")
    a = ap.parse_args()
    max_length = a.max_length
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model = _model(tmp, a.gpu)
        data = _data(tmp, a.rows)
        params = n_params(model)
        plain = {"tokens_per_s": 0.0, "peak_mem_gib": 0.0}
        if not a.no_plain:
            plain = run_plain(model, data, a.plain_steps or a.steps, max_length, tmp, a.gpu)
        mentor, variants = compare(model, data, a, max_length, tmp)
    ratio = (
        round(mentor["tokens_per_s"] / plain["tokens_per_s"], 2) if plain["tokens_per_s"] else None
    )
    print(
        f"plain recipe : {plain['tokens_per_s']:>10.1f} non-padding tokens/s, peak {plain['peak_mem_gib']} GiB"
    )
    print(
        f"mentor       : {mentor['tokens_per_s']:>10.1f} non-padding tokens/s, peak {mentor['peak_mem_gib']} GiB"
    )
    print(f"ratio        : {ratio}")
    figures = {
        "benchmark": "train",
        "mode": "gpu" if a.gpu else "cpu",
        "steps": a.steps,
        "max_length": max_length,
        "params": params,
        "plain": plain,
        "mentor": mentor,
        "ratio": ratio,
        "variants": variants,
    }
    if a.gpu:  # LoRA: 4N FLOP per trained token (forward + activation gradients)
        for side in (plain, mentor, *variants.values()):
            side["share_of_bf16_peak"] = round(
                side["tokens_per_s"] * 4 * params / BF16_PEAK_FLOPS, 4
            )
        print(
            f"share of bf16 peak: plain {plain['share_of_bf16_peak']:.1%}, mentor {mentor['share_of_bf16_peak']:.1%}"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
