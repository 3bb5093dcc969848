"""The main job on the embedded default: tiny model, generated SYLLO data, CPU.

    make demo                      # = .venv/bin/python scripts/demo.py --workspace demo-workspace

1. ``mentor init`` a workspace, then ``mentor model tiny --size demo``: the 1M-parameter
   Qwen3-architecture model with the scaffold tokenizer trained on the demo's word pool (built
   here, nothing downloaded);
2. easy SYLLO puzzles over a fixed 150-word pool, split into training files, and a held-out set
   of new puzzles over the same words (never trained);
3. ``mentor eval`` the untrained model on the held-out set (the baseline);
4. ``mentor train`` the files one after another (one lineage: one optimizer, one schedule), and
   ``mentor eval`` the held-out set after each: the table shows the delta against the baseline
   with 95% intervals and a paired test.

The settings live in ``mentor.tasks.syllo.demo`` (measured in docs/demo.md). The budget is a
number of puzzles, not seconds, so the result repeats on a slower machine. It reports what it
measured, whatever it is, in ``<workspace>/status/demo.json``. Re-running continues the same
workspace: a file already trained is not trained again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def mentor(*args: str, capture: bool = False) -> str:
    exe = Path(sys.executable).with_name("mentor")
    print("\n$ mentor " + " ".join(args), flush=True)
    res = subprocess.run(
        [str(exe) if exe.exists() else "mentor", *args],
        check=True,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    return res.stdout or ""


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def evaluate(home: list[str], model: str, heldout: Path) -> dict[str, Any]:
    """One held-out evaluation through ``mentor eval --json``; prints the headline figures."""
    res = json.loads(
        mentor(*home, "eval", "--model", model, "--data", str(heldout), "--json", capture=True)
    )
    bench = next(iter(res["benchmarks"].values()))
    row: dict[str, Any] = {"model": model, "eval_id": bench.get("eval_id")}
    for m in ("solved", "word_acc", "json_valid"):
        row[m] = bench["overall"].get(m)
        row[m + "_ci"] = bench.get("intervals", {}).get(m)
        row[m + "_p"] = (bench.get("baseline_delta", {}).get(m) or {}).get("p_value")
    print(
        "  "
        + "  ".join(
            f"{m} {row[m]:.3f}" + (f" (p={row[m + '_p']:.2g})" if row[m + "_p"] is not None else "")
            for m in ("solved", "word_acc", "json_valid")
        ),
        flush=True,
    )
    return row


def main() -> None:
    from mentor.tasks.syllo import demo

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workspace", type=Path, default=Path("demo-workspace"))
    ap.add_argument(
        "--puzzles", type=int, default=demo.PUZZLES, help="training puzzles (all files)"
    )
    ap.add_argument("--files", type=int, default=demo.FILES, help="training files")
    ap.add_argument("--heldout", type=int, default=demo.HELDOUT, help="held-out puzzles")
    ap.add_argument("--seed", type=int, default=0, help="model, data and training seed")
    ap.add_argument("--fresh", action="store_true", help="remove the workspace first")
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from mentor import config
    from mentor.tasks.syllo.generate import generate

    t0 = time.time()
    ws = a.workspace.resolve()
    if a.fresh and ws.exists():
        shutil.rmtree(ws)
    if not (ws / "mentor.yaml").exists():
        mentor("init", str(ws), "--model", "tiny", "--seed", str(a.seed))
        model_dir = ws / "models" / "demo"
        mentor(
            "model",
            "tiny",
            "--size",
            demo.MODEL_SIZE,
            "--seed",
            str(a.seed),
            "--out",
            str(model_dir),
        )
        overlay = [
            *demo.CONFIG,
            "model.path=models/demo",
            f"training.seed={a.seed}",
            f"training.horizon_tokens={a.puzzles * demo.TOKENS_PER_PUZZLE}",
        ]
        cfg = config.load(ws / "mentor.yaml", overlay)
        (ws / "mentor.yaml").write_text(config.commented_yaml(cfg))
    home = ["--home", str(ws)]
    data = ws / "data" / "demo"
    data.mkdir(parents=True, exist_ok=True)
    per_file = a.puzzles // a.files
    pool = {"tier": demo.TIER, "vocab_size": demo.WORDS}
    files = [data / f"syllo_easy_{k + 1:02d}.jsonl" for k in range(a.files)]
    for k, f in enumerate(files):
        if not f.exists():
            write_rows(f, generate(per_file, demo.train_seed(a.seed, k), **pool))
    heldout = data / "syllo_easy_heldout.jsonl"
    if not heldout.exists():
        write_rows(heldout, generate(a.heldout, demo.heldout_seed(a.seed), split="heldout", **pool))
    print(
        f"data: {a.files} files x {per_file} puzzles, {a.heldout} held out ({time.time() - t0:.0f} s)"
    )

    evals = [evaluate(home, "base", heldout)]
    t_train = 0.0
    for f in files:
        t1 = time.time()
        mentor(*home, "train", str(f))
        t_train += time.time() - t1
        evals.append(dict(evaluate(home, "current", heldout), file=f.name))
    summary = {
        "workspace": str(ws),
        "seed": a.seed,
        "files": [str(f) for f in files],
        "heldout": str(heldout),
        "puzzles": a.puzzles,
        "evals": evals,
        "train_seconds": round(t_train, 1),
        "total_seconds": round(time.time() - t0, 1),
    }
    (ws / "status").mkdir(exist_ok=True)
    (ws / "status" / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    last = evals[-1]
    print(
        f"\ndemo: solved {evals[0]['solved']:.2f} -> {last['solved']:.2f}, word_acc "
        f"{evals[0]['word_acc']:.2f} -> {last['word_acc']:.2f}, json_valid "
        f"{evals[0]['json_valid']:.2f} -> {last['json_valid']:.2f} on {a.heldout} held-out puzzles; "
        f"{summary['total_seconds']:.0f} s in all ({t_train:.0f} s training)"
    )
    print(f"demo workspace: {ws} (summary in {ws / 'status' / 'demo.json'})")


if __name__ == "__main__":
    main()
