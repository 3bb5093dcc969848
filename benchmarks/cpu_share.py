"""Two trainings at once on the CPU, with and without dividing the cores (mentor.monitor.cpu_share).

    PYTHONPATH=src python benchmarks/cpu_share.py --steps 40 [--out results.json]   # step loops
    PYTHONPATH=src python benchmarks/cpu_share.py --full [--rows 300]              # mentor train

``--steps N`` (quick): each process builds nothing itself; it runs N forward+backward+AdamW
steps of the xs tiny model (batch 2 x 128 tokens) inside ``CpuShare`` (or with sharing off),
alone and two at once, and reports its wall seconds: the thread contention alone, without
data loading. ``--full``: the whole ``mentor train`` as below.

Builds one tiny workspace (`mentor init --model tiny`), copies it per run so every training
starts from the same lineage, writes a chat file of ``--rows`` rows, then times
``mentor train FILE --json``: (1) alone, (2) two at once with ``MENTOR_CPU_SHARE=0`` (each
process takes every core, torch's default), (3) two at once with sharing on (each takes
cores // 2 threads). Prints one JSON object: wall seconds per process, optimizer steps and
tokens from each outcome (the same in every run: the work is identical), and the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETS = [
    "eval.val_every=0",
    "eval.live_every=0",
    "training.max_length=128",
    "data.holdout_fraction=0",
]


def mentor(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "mentor", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def train_many(base: Path, data: Path, n: int, share: bool, tag: str) -> list[dict]:
    env = dict(os.environ, MENTOR_CPU_SHARE="1" if share else "0")
    env["MENTOR_CPU_REGISTRY"] = str(base / f"registry-{tag}")
    homes = []
    for i in range(n):
        home = base / f"{tag}-{i}"
        shutil.copytree(base / "ws", home)
        homes.append(home)
    sets = [x for s in SETS for x in ("--set", s)]
    t0 = time.perf_counter()
    procs = [mentor("--home", str(h), "train", str(data), "--json", *sets, env=env) for h in homes]
    out = []
    for p in procs:
        stdout, stderr = p.communicate()
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"training failed: {stderr[-2000:]}")
        o = json.loads(stdout)["outcomes"][0]
        out.append(
            {
                "wall_s": round(wall, 1),
                "steps": o["global_step"],
                "rows": o["rows_trained"],
                "tokens": o["tokens"],
                "tokens_per_s": o["metrics"].get("tokens_per_s"),
            }
        )
    return out


def worker(model_dir: str, steps: int) -> None:
    """One process: ``steps`` training steps of the tiny model under CpuShare; prints seconds."""
    import torch
    from transformers import AutoModelForCausalLM

    from mentor.monitor.cpu_share import CpuShare

    with CpuShare() as share:
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        ids = torch.randint(
            0, model.config.vocab_size, (2, 128), generator=torch.Generator().manual_seed(0)
        )
        t0 = time.perf_counter()
        for _ in range(steps):
            model(input_ids=ids, labels=ids).loss.backward()
            opt.step()
            opt.zero_grad()
            share.rebalance()
        wall = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "wall_s": round(wall, 2),
                "steps": steps,
                "tokens": steps * ids.numel(),
                "threads": torch.get_num_threads(),
            }
        )
    )


def steps_many(
    model_dir: Path, steps: int, n: int, share: bool, base: Path, tag: str
) -> list[dict]:
    env = dict(os.environ, MENTOR_CPU_SHARE="1" if share else "0")
    env["MENTOR_CPU_REGISTRY"] = str(base / f"registry-{tag}")
    env.pop("OMP_NUM_THREADS", None)
    cmd = [sys.executable, __file__, "--worker", str(model_dir), "--steps", str(steps)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) for _ in range(n)]
    return [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--worker", default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.steps)
        return
    if not args.full:
        from mentor.models.tiny import build_tiny
        from mentor.monitor.cpu_share import cores

        base = Path(tempfile.mkdtemp(prefix="mentor-cpu-share-"))
        try:
            model = build_tiny(base / "model", size="xs", seed=0)
            res = {
                "cores": cores(),
                "load_avg_1m_at_start": os.getloadavg()[0],
                "alone": steps_many(model, args.steps, 1, True, base, "alone"),
                "two_unshared": steps_many(model, args.steps, 2, False, base, "unshared"),
                "two_shared": steps_many(model, args.steps, 2, True, base, "shared"),
                "load_avg_1m_at_end": os.getloadavg()[0],
            }
        finally:
            shutil.rmtree(base, ignore_errors=True)
        text = json.dumps(res, indent=2)
        print(text)
        if args.out:
            args.out.write_text(text + "\n")
        return
    base = Path(tempfile.mkdtemp(prefix="mentor-cpu-share-"))
    try:
        env = dict(os.environ)
        r = subprocess.run(
            [sys.executable, "-m", "mentor", "init", str(base / "ws"), "--model", "tiny"],
            capture_output=True,
            text=True,
            env=env,
        )
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        data = base / "file.jsonl"
        with open(data, "w") as f:
            for i in range(args.rows):
                msgs = [
                    {"role": "user", "content": f"What is {i} plus {i}? Answer with the number."},
                    {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."},
                ]
                f.write(json.dumps({"messages": msgs}) + "\n")
        from mentor.monitor.cpu_share import cores

        res = {
            "cores": cores(),
            "rows": args.rows,
            "alone": train_many(base, data, 1, True, "alone"),
            "two_unshared": train_many(base, data, 2, False, "unshared"),
            "two_shared": train_many(base, data, 2, True, "shared"),
            "load_avg_1m_at_end": os.getloadavg()[0],
        }
        text = json.dumps(res, indent=2)
        print(text)
        if args.out:
            args.out.write_text(text + "\n")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
