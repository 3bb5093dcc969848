"""The main job on the embedded default: tiny model, generated SYLLO data, CPU.

    make demo                      # = .venv/bin/python scripts/demo.py --workspace demo-workspace

1. ``mentor init`` a workspace with the tiny Qwen3-architecture model (built here, nothing
   downloaded);
2. ``mentor syllo generate`` easy puzzles over a fixed 150-word pool (spec/demo-notes.md: a
   tiny model can learn 150 definition->word pairs in minutes) and a held-out set of new
   puzzles over the same words;
3. ``mentor eval`` the untrained model on the held-out set (the baseline);
4. ``mentor train`` a fixed number of rows (steps, not seconds, so the result repeats);
5. ``mentor eval`` the trained model on the same held-out set: the table shows the delta
   against the baseline with 95% intervals and a paired test.

It reports what it measured, whatever it is. Re-running continues the same workspace: a file
already trained is not trained again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Demo settings (spec/demo-notes.md): full fine-tune of the 1M-parameter model, LR 5e-3, short
# warmup, cosine decay over about the demo's own tokens (6,000 easy puzzles, ~2.2M tokens).
DEMO_CONFIG = [
    "training.method=full",
    "training.learning_rate=5e-3",
    "training.warmup_steps=30",
    "training.schedule=cosine",
    "training.horizon_tokens=2500000",
    "training.batch_size=4",
    "training.grad_accum=1",
    "training.max_length=768",
    "training.save_steps=100",
    "training.logging_steps=20",
    "eval.val_every=100",
]


def mentor(*args: str) -> None:
    exe = Path(sys.executable).with_name("mentor")
    print("\n$ mentor " + " ".join(args), flush=True)
    subprocess.run([str(exe) if exe.exists() else "mentor", *args], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workspace", type=Path, default=Path("demo-workspace"))
    ap.add_argument("--rows", type=int, default=6000, help="training puzzles (fixed budget)")
    ap.add_argument("--heldout", type=int, default=50, help="held-out puzzles")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fresh", action="store_true", help="remove the workspace first")
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    ws = a.workspace.resolve()
    if a.fresh and ws.exists():
        shutil.rmtree(ws)
    if not (ws / "mentor.yaml").exists():
        mentor("init", str(ws), "--model", "tiny", "--seed", str(a.seed))
        from mentor import config

        cfg = config.load(ws / "mentor.yaml", DEMO_CONFIG)
        (ws / "mentor.yaml").write_text(config.commented_yaml(cfg))
    home = ["--home", str(ws)]
    data = ws / "data" / "demo"
    data.mkdir(parents=True, exist_ok=True)
    train, heldout = data / "syllo_easy_train.jsonl", data / "syllo_easy_heldout.jsonl"
    pool = ["--tier", "easy", "--vocab-size", "150"]
    if not train.exists():
        mentor(
            "syllo",
            "generate",
            *pool,
            "--count",
            str(a.rows),
            "--seed",
            str(1000 + a.seed),
            "--out",
            str(train),
        )
    if not heldout.exists():
        mentor(
            "syllo",
            "generate",
            *pool,
            "--count",
            str(a.heldout),
            "--seed",
            str(2000 + a.seed),
            "--out",
            str(heldout),
        )
    mentor(*home, "eval", "--model", "base", "--data", str(heldout))
    mentor(*home, "train", str(train))
    mentor(*home, "eval", "--model", "current", "--data", str(heldout))
    summary = ws / "status" / "demo.json"
    summary.write_text(
        json.dumps({"workspace": str(ws), "train": str(train), "heldout": str(heldout)}) + "\n"
    )
    print(f"\ndemo workspace: {ws} (reports under {ws / 'reports'})")


if __name__ == "__main__":
    main()
