"""The demo's research harness (docs/demo.md): the demo's own data, model and training overlay for
one seed, trained file after file through the training recipe (``train_file``) in this process,
with the held-out demo puzzles scored after each file by the evaluation runner. No daemon,
dashboard or reports: what a setting does to learning, at a fraction of ``mentor demo``'s cost
(run two at once with one thread each on 2 cores).

The model is the demo's (``models/tiny.py`` size ``demo``, seeded like ``mentor demo --seed``);
``--layers``/``--hidden`` re-initialise it in another shape with the same tokenizer and seed
(FFN 3x hidden, 4 heads). ``--set`` overrides the demo's training overlay. The LR schedule's
horizon follows ``--puzzles``.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/demo_recipe.py --seed 1 \\
        [--puzzles 23100] [--files 3] [--layers 3 --hidden 96] [--set training.schedule=wsd]

One JSON line per file (steps, seconds, loss, tokens/s, held-out scores), then ``RESULT {...}``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any


def reshape(model: Path, layers: int, hidden: int, seed: int) -> None:
    """Re-initialise the model in place with another depth/width (same tokenizer, same seed)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(model)
    if layers:
        cfg.num_hidden_layers = layers
        cfg.layer_types = ["full_attention"] * layers
    if hidden:
        cfg.hidden_size = hidden
        cfg.intermediate_size = 3 * hidden
        cfg.head_dim = hidden // cfg.num_attention_heads
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(model)


def main() -> None:
    from mentor import config as config_mod
    from mentor.demo.run import heldout_rows, training_rows, write_rows
    from mentor.evals.runner import evaluate
    from mentor.models.tiny import build_tiny
    from mentor.tasks.syllo import demo as settings
    from mentor.train import train_file
    from mentor.workspace import init_workspace

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--puzzles", type=int, default=settings.PUZZLES)
    ap.add_argument("--files", type=int, default=settings.FILES)
    ap.add_argument("--layers", type=int, default=0, help="re-initialise with this many layers")
    ap.add_argument("--hidden", type=int, default=0, help="re-initialise with this width")
    ap.add_argument("--eval-from", type=int, default=1, help="first file (0-based) scored")
    ap.add_argument("--set", nargs="*", default=[], help="overrides of the demo overlay")
    ap.add_argument("--keep", type=Path, help="keep the workspace here")
    args = ap.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="demo-recipe-"))
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    model = build_tiny(root / "models" / "demo", size=settings.MODEL_SIZE, seed=args.seed)
    if args.layers or args.hidden:
        reshape(model, args.layers, args.hidden, args.seed)
    ws = init_workspace(root, model=str(model), seed=args.seed)
    heldout = root / "heldout.jsonl"
    write_rows(heldout, heldout_rows(args.seed, settings.HELDOUT))
    overlay = [s for s in settings.CONFIG if not s.startswith("training.horizon_tokens=")]
    horizon = f"training.horizon_tokens={args.puzzles * settings.TOKENS_PER_PUZZLE}"
    cfg = config_mod.load(ws.config_file, [*overlay, horizon, "eval.max_new_tokens=200", *args.set])
    ws.config_file.write_text(config_mod.commented_yaml(cfg))

    result: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "files": []}
    per_file = args.puzzles // args.files
    t0 = time.time()
    for k in range(args.files):
        path = root / f"syllo_demo_{k + 1:02d}.jsonl"
        rows = training_rows(args.seed, k, per_file)
        write_rows(path, rows)
        t1 = time.time()
        out = train_file(ws, cfg, path)
        line: dict[str, Any] = {
            "file": k,
            "status": out.status,
            "step": out.global_step,
            "seconds": round(time.time() - t1, 1),
            "loss": out.metrics.get("loss"),
            "tokens_per_s": out.metrics.get("tokens_per_s"),
        }
        if k >= args.eval_from or k == args.files - 1:
            scored = evaluate(ws, cfg, "current", data=heldout, report=False)
            for bench in scored.benchmarks.values():
                line["heldout"] = {m: round(bench.overall[m], 3) for m in settings.METRICS}
        result["files"].append(line)
        print(json.dumps(line), flush=True)
    result["seconds"] = round(time.time() - t0, 1)
    result["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    print("RESULT " + json.dumps(result), flush=True)
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
