"""Live-preview overhead: the same tiny training with and without LivePreviewCallback.

Both runs use the HF Trainer + PEFT LoRA on the tiny Qwen3-architecture model, the same seed,
rows and steps; the preview run uses the default cadence (``eval.live_every`` = 10, probes =
``syllo_probe_8``, new tokens sized to the probes' goldens, adaptive 4 % budget, evolution
snapshots at 0/10/25/50/100...). The overhead share is (with - without) / without of the
``trainer.train()`` wall time; on a shared machine that difference is mostly noise, so
``hook_share_in_run`` also times every hook of the callback inside the run (previews and
per-step bookkeeping) against the rest of that run.

    .venv/bin/python benchmarks/perf/preview_overhead.py [--steps 1000] [--repeats 2] [--budget 0.04]

The last line is one JSON object with the figures and ``overhead_share``. ``train_tiny`` is
also used by the unit tests of the callback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def training_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Small arithmetic chat rows (no SYLLO puzzle, so the probes stay held out)."""
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"What is {a} plus {b}?"},
                    {"role": "assistant", "content": f"{a} plus {b} is {a + b}."},
                ]
            }
        )
    return rows


class _Dataset:
    def __init__(self, examples: list[dict[str, list[int]]]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.examples[i]


def encode(renderer: Any, rows: list[dict[str, Any]]) -> _Dataset:
    """Rows -> input ids + labels masked exactly as ChatRenderer.render's spans say."""
    tok = renderer.tokenizer
    out = []
    for row in rows:
        r = renderer.render(row["messages"])
        enc = tok(r.text, add_special_tokens=False, return_offsets_mapping=True)
        labels = [
            t if any(s <= a < e for s, e in r.spans) and b > a else -100
            for t, (a, b) in zip(enc["input_ids"], enc["offset_mapping"], strict=True)
        ]
        out.append({"input_ids": list(enc["input_ids"]), "labels": labels})
    return _Dataset(out)


def _collate(pad_id: int):
    def collate(batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(x["input_ids"]) for x in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, x in enumerate(batch):
            n = len(x["input_ids"])
            ids[i, :n] = torch.tensor(x["input_ids"])
            labels[i, :n] = torch.tensor(x["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return collate


def train_tiny(
    model_dir: Path,
    out_dir: Path,
    *,
    steps: int,
    callbacks: list[Any] | None = None,
    renderer: Any = None,
    rows: int = 256,
    batch_size: int = 4,
    grad_accum: int = 2,
    seed: int = 0,
) -> tuple[dict[str, Any], float]:
    """A short LoRA training of the tiny model. Returns (adapter state dict on CPU, train seconds)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainingArguments, set_seed

    from mentor.config import Config
    from mentor.data.chat import ChatRenderer
    from mentor.models.loader import load_model, load_tokenizer

    set_seed(seed)
    tok = load_tokenizer(model_dir)
    renderer = renderer or ChatRenderer.from_config(tok, Config().chat)
    model = load_model(model_dir, device="cpu", trainable=True)
    model.config.use_cache = False
    model = get_peft_model(
        model,
        LoraConfig(
            r=8, lora_alpha=8, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"
        ),
    )
    args = TrainingArguments(
        output_dir=str(out_dir),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        learning_rate=1e-3,
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=seed,
        data_seed=seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=encode(renderer, training_rows(rows, seed)),
        data_collator=_collate(tok.pad_token_id),
        callbacks=callbacks or [],
    )
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    from peft import get_peft_model_state_dict

    state = {
        k: v.detach().to("cpu", torch.float32).clone()
        for k, v in get_peft_model_state_dict(model).items()
    }
    return state, seconds


def _time_hooks(callback: Any) -> dict[str, float]:
    """Wrap every ``on_*`` hook of ``callback`` to add its wall time to the returned counter."""
    spent = {"s": 0.0}

    def timed(fn: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent["s"] += time.perf_counter() - t0

        return run

    for name in dir(callback):
        if name.startswith("on_") and callable(getattr(callback, name)):
            setattr(callback, name, timed(getattr(callback, name)))
    return spent


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--size", default="xs", choices=["xs", "s", "m"])
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--grad-accum", type=int, default=4)
    ap.add_argument("--model", type=Path, default=None, help="an existing tiny model directory")
    ap.add_argument("--budget", type=float, default=0.04, help="adaptive budget share (<0 = none)")
    ap.add_argument(
        "--repeats", type=int, default=2, help="alternating with/without pairs; the fastest of each"
    )
    a = ap.parse_args(argv)

    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    from mentor.config import Config
    from mentor.data.chat import ChatRenderer
    from mentor.models.loader import load_tokenizer
    from mentor.models.tiny import build_tiny
    from mentor.paths import RunFolder, Workspace
    from mentor.store import connect
    from mentor.train.callbacks import LivePreviewCallback

    with tempfile.TemporaryDirectory(prefix="mentor-preview-bench-") as tmp:
        tmpd = Path(tmp)
        model_dir = a.model or build_tiny(tmpd / "model", size=a.size, seed=0)
        cfg = Config()
        ws = Workspace(tmpd / "ws")
        for d in ws.layout():
            d.mkdir(parents=True, exist_ok=True)
        connect(ws.db).close()
        common = dict(steps=a.steps, batch_size=a.batch_size, grad_accum=a.grad_accum)
        # warm-up (imports, allocator), not timed
        train_tiny(model_dir, tmpd / "warm", steps=2, batch_size=a.batch_size, grad_accum=1)
        renderer = ChatRenderer.from_config(load_tokenizer(model_dir), cfg.chat)
        base_runs, live_runs, hook_shares = [], [], []
        cb = None
        for i in range(max(1, a.repeats)):  # alternate, so machine load hits both alike
            _, s0 = train_tiny(model_dir, tmpd / f"plain{i}", **common)
            base_runs.append(s0)
            run_dir = ws.run_dir(f"bench{i}")
            cb_i = LivePreviewCallback(
                ws, cfg, run_dir, renderer, budget_share=None if a.budget < 0 else a.budget
            )
            spent = _time_hooks(cb_i)
            _, s1 = train_tiny(
                model_dir, tmpd / f"live{i}", callbacks=[cb_i], renderer=renderer, **common
            )
            live_runs.append(s1)
            hook_shares.append(spent["s"] / (s1 - spent["s"]))
            if cb is None or s1 <= min(live_runs):
                cb, run_dir_best = cb_i, run_dir
        base_s, live_s = min(base_runs), min(live_runs)
        run_dir = run_dir_best
        steps_done = [r["step"] for r in cb.records]
        preview_s = [r["seconds_total"] for r in cb.records]
        evo = sorted(p.name for p in RunFolder(run_dir).evolution.glob("*.json"))
    result = {
        "benchmark": "preview_overhead",
        "model_size": a.size,
        "steps": a.steps,
        "batch_size": a.batch_size,
        "grad_accum": a.grad_accum,
        "live_every": cfg.eval.live_every,
        "probe_count": cfg.eval.probe_count,
        "budget_share": a.budget,
        "max_new_tokens": cb.runner.max_new_tokens if cb.runner else None,
        "repeats": a.repeats,
        "train_s_without_runs": [round(x, 3) for x in base_runs],
        "train_s_with_runs": [round(x, 3) for x in live_runs],
        "train_s_without": round(base_s, 3),
        "train_s_with": round(live_s, 3),
        "previews": len(steps_done),
        "preview_steps": steps_done,
        "previews_skipped_by_budget": sum(r.get("skipped_before", 0) for r in cb.records)
        + cb.skipped,
        "preview_s_total": round(sum(preview_s), 3),
        "preview_s_budgeted": round(cb.preview_s, 3),
        "preview_s_mean": round(sum(preview_s) / len(preview_s), 3) if preview_s else None,
        "evolution_snapshots": evo,
        # previews over the training time of the same run: machine load
        # hits both alike, unlike the wall-clock comparison of two runs
        "preview_share_in_run": round(cb.preview_s / cb.train_s, 4) if cb.train_s else None,
        # all time inside the callback's hooks (previews, bookkeeping) over the
        # rest of the same run: the overhead without the run-to-run noise of a shared machine
        "hook_share_in_run": round(hook_shares[live_runs.index(live_s)], 4),
        "overhead_share": round((live_s - base_s) / base_s, 4) if base_s else None,
    }
    print(
        f"without previews: {base_s:.2f} s   with: {live_s:.2f} s   previews: {len(steps_done)} at {steps_done}"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    main()
