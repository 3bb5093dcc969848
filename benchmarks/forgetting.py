"""The forgetting experiment of docs/forgetting.md: tiny model, SYLLO file A, then a disjoint chat
file B (spell a word backwards), with replay fractions 0 / 0.25 / 0.5 at the same budget (the same
number of trained rows in B's run: a replay run trains fewer of B's own rows).

For each condition: A's held-out loss change since A was trained (mean per-row nats/token with a
95% paired-bootstrap interval, n rows), A's SYLLO generation metrics on a sample, the general
probe's change since the base, what B taught (its loss on a fixed test set of words no condition
trained: the price of replaying instead of training B rows), the gate's verdict, and what one
forgetting check cost (rows scored, seconds). Last line: one JSON object with every figure.

    PYTHONPATH=src python benchmarks/forgetting.py [--a-rows 200] [--b-rows 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any


def setup(root: Path, args: argparse.Namespace) -> tuple[Any, Any]:
    from mentor import config as config_mod
    from mentor.models.tiny import build_tiny
    from mentor.paths import Workspace, atomic_write_text
    from mentor.store import connect

    seed = args.seed
    model = build_tiny(root / "tiny", size="xs", seed=seed)
    ws = Workspace(root / "ws")
    for d in ws.layout():
        d.mkdir(parents=True, exist_ok=True)
    cfg = config_mod.Config()
    cfg.model.path = str(model)
    atomic_write_text(ws.config_file, config_mod.commented_yaml(cfg))
    connect(ws.db).close()
    t = cfg.training
    t.method, t.max_length, t.lora_r, t.lora_alpha = args.method, 1024, 8, 8
    t.batch_size, t.grad_accum, t.warmup_steps, t.seed = 4, 1, 5, seed
    t.learning_rate, t.epochs_per_file = args.lr, args.epochs
    t.packing, t.save_steps = False, 10_000
    cfg.eval.val_every = cfg.eval.live_every = 0
    cfg.eval.max_new_tokens = 160
    cfg.data.holdout_fraction, cfg.data.holdout_max = 0.25, 40
    cfg.forgetting.rows_per_file, cfg.forgetting.sample, cfg.forgetting.probe_rows = 40, 16, 64
    return ws, cfg


def reverse_rows(n: int) -> list[dict[str, Any]]:
    from mentor.tasks.syllo.lexicon import load_lexicon

    words = sorted(w for w in load_lexicon() if w.isalpha() and 5 <= len(w) <= 9)[::7][:n]
    return [
        {
            "id": f"rev-{i}",
            "messages": [
                {"role": "user", "content": f'Spell "{w}" backwards.'},
                {"role": "assistant", "content": w[::-1]},
            ],
        }
        for i, w in enumerate(words)
    ]


B_TEST = 40  # B's fixed test rows: words after B's own, never trained in any condition


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def check(
    ws: Any, cfg: Any, version: str, b_test: list[dict[str, Any]]
) -> tuple[Any, dict[str, Any], float, float]:
    """The forgetting check of ``version`` (gate decision, scores, seconds) and the mean loss
    of the fixed B test rows (what B taught, the same rows in every condition)."""
    from mentor.evals import forgetting
    from mentor.evals.gate import GateDecision
    from mentor.evals.runner import eval_engine
    from mentor.evals.tasks import items_from_rows
    from mentor.models.refs import resolve

    model = resolve(ws, cfg, "current")  # an adapter, or the whole model of a full fine-tune
    engine = eval_engine(model.base, model.adapter, cfg)
    t0 = time.perf_counter()
    state = forgetting.lineage_state(model.adapter or model.base)
    checks = forgetting.measure(ws, cfg, version=version, state=state or {}, engine=engine)
    seconds = time.perf_counter() - t0
    decision = forgetting.gate(checks, cfg, GateDecision(True, "-"))
    items = items_from_rows(b_test, source="b-test")
    losses, _ = forgetting.score(engine, cfg, "b-test", items)
    b_loss = sum(losses.values()) / len(losses)
    return decision, {c.name: c.to_dict() for c in checks}, seconds, b_loss


def run(args: argparse.Namespace) -> dict[str, Any]:
    from mentor.tasks.syllo.generate import generate
    from mentor.train import train_file

    root = Path(tempfile.mkdtemp(prefix="mentor-forgetting-"))
    try:
        ws, cfg = setup(root / "base", args)
        a = write(ws.inbox / "a.jsonl", list(generate(args.a_rows, args.seed + 1, tier="easy")))
        b_all = reverse_rows(args.b_rows + B_TEST)
        b_all, b_test = b_all[: args.b_rows], b_all[args.b_rows :]
        oa = train_file(ws, cfg, a)
        _, after_a, cost_a, b_test_after_a = check(ws, cfg, "v001", b_test)
        shutil.move(a, ws.done / "20260101-000000_a.jsonl")
        out: dict[str, Any] = {
            "settings": vars(args),
            "a_steps": oa.global_step,
            "after_a": after_a,
            "b_test_loss_after_a": b_test_after_a,
            "check_seconds_after_a": round(cost_a, 2),
            "conditions": {},
        }
        from mentor.paths import Workspace

        for f in args.fractions:
            wsf = Workspace(root / f"replay-{f}")
            shutil.copytree(ws.home, wsf.home)
            cfg.training.replay_fraction = f
            keep = round(len(b_all) * (1 - f))  # same budget: replayed rows replace B rows
            b = write(wsf.inbox / "b.jsonl", b_all[:keep])
            t0 = time.perf_counter()
            ob = train_file(wsf, cfg, b)
            train_s = time.perf_counter() - t0
            decision, after_b, cost, b_test_loss = check(wsf, cfg, "v002", b_test)
            out["conditions"][str(f)] = {
                "b_own_rows": keep,
                "b_steps": ob.global_step - oa.global_step,
                "b_rows_trained": ob.rows_trained,
                "train_seconds": round(train_s, 1),
                "check_seconds": round(cost, 2),
                "b_test_loss": b_test_loss,
                "promote": decision.promote,
                "reason": decision.reason,
                "scores": after_b,
            }
            c = out["conditions"][str(f)]
            brief = {k: c["scores"].get(k, {}).get("delta") for k in ("a.jsonl", "general probe")}
            print(
                f"replay {f}: delta {brief}, B test loss {b_test_loss:.3f}, gate {decision.reason}"
            )
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    p = argparse.ArgumentParser()
    p.add_argument("--a-rows", type=int, default=200)
    p.add_argument("--b-rows", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="full", help="full or lora")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--fractions", type=float, nargs="+", default=[0.0, 0.25, 0.5])
    args = p.parse_args()
    t0 = time.time()
    res = run(args)
    res["seconds"] = round(time.time() - t0, 1)
    res["load"] = os.getloadavg()[0]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
