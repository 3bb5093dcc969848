"""Training throughput: mentor's train_file against the plain recipe, same data, model and steps.

Plain recipe: HF Trainer + PEFT LoRA r=64 (alpha 64, dropout 0.05, all linear), padded batches,
batch 2 x accumulation 8. mentor: its defaults (LoRA r=64, packing with first-fit-decreasing
windows; bf16 on a GPU, fp32 on the CPU: this CPU has no native bf16, where autocast halved
throughput).
Both report non-padding input tokens per second. The last line is one JSON object.

    .venv/bin/python benchmarks/perf/train.py --steps 4            # CPU, tiny model
    .venv/bin/python benchmarks/perf/train.py --gpu --steps 20     # Qwen3-0.6B shape, bf16, seq 1024

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


def run_mentor(model: Path, data: Path, steps: int, max_length: int, tmp: Path, gpu: bool) -> dict:
    import torch

    from mentor.config import Config
    from mentor.paths import Workspace
    from mentor.train import train_file

    ws = Workspace(tmp / "ws")
    for d in ws.layout():
        d.mkdir(parents=True, exist_ok=True)
    cfg = Config()
    cfg.model.path = str(model)
    cfg.training.max_length = max_length
    cfg.training.save_steps = 10**6
    cfg.eval.val_every = 0
    cfg.eval.live_every = 0  # previews have their own benchmark (preview_overhead.py)
    cfg.data.holdout_max = 0
    if gpu:  # the same 16 sequences per optimizer step, in fewer, larger micro-batches
        cfg.training.batch_size, cfg.training.grad_accum = 8, 2
    calls = {"n": 0}

    def control() -> str | None:
        calls["n"] += 1
        return "stop" if calls["n"] >= steps else None

    if gpu:
        torch.cuda.reset_peak_memory_stats()
    o = train_file(ws, cfg, data, control=control)
    return {
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
    a = ap.parse_args()
    max_length = 1024
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model = _model(tmp, a.gpu)
        data = _data(tmp, a.rows)
        params = n_params(model)
        plain = run_plain(model, data, a.steps, max_length, tmp, a.gpu)
        mentor = run_mentor(model, data, a.steps, max_length, tmp, a.gpu)
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
        "mode": "gpu" if a.gpu else "cpu",
        "steps": a.steps,
        "params": params,
        "plain": plain,
        "mentor": mentor,
        "ratio": ratio,
    }
    if a.gpu:  # LoRA: 4N FLOP per trained token (forward + activation gradients)
        for side in (plain, mentor):
            side["share_of_bf16_peak"] = round(
                side["tokens_per_s"] * 4 * params / BF16_PEAK_FLOPS, 4
            )
        print(
            f"share of bf16 peak: plain {plain['share_of_bf16_peak']:.1%}, mentor {mentor['share_of_bf16_peak']:.1%}"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
