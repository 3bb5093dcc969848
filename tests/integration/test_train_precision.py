"""Training on the CPU with ``bf16: auto`` measures both precisions once, then reuses the choice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mentor import config as config_mod
from mentor.store import connect
from mentor.store.events import recent
from mentor.tasks.syllo.generate import generate
from mentor.train import train_file


def _file(tmp: Path, name: str, seed: int) -> Path:
    f = tmp / name
    f.write_text("".join(json.dumps(r) + "\n" for r in generate(6, seed, tier="easy")))
    return f


@pytest.mark.slow
def test_cpu_bf16_auto_is_measured_once_and_used(workspace, tmp_path: Path) -> None:
    cfg = config_mod.load(workspace.config_file)
    t = cfg.training
    t.method, t.batch_size, t.grad_accum, t.max_length = "full", 2, 1, 1024
    t.bf16, t.bf16_probe_rounds, t.save_steps = "auto", 1, 1000
    cfg.eval.val_every = cfg.eval.live_every = 0
    cfg.data.holdout_max = 0

    a = train_file(workspace, cfg, _file(tmp_path, "a.jsonl", 1))
    b = train_file(workspace, cfg, _file(tmp_path, "b.jsonl", 2))
    assert a.status == b.status == "completed"

    conn = connect(workspace.db)
    try:
        events = list(reversed(recent(conn, kinds=["train.precision"])))
    finally:
        conn.close()
    assert [e.data["cached"] for e in events] == [False, True]
    first, second = (e.data for e in events)
    assert first["bf16"] == (first["bf16_s"] < first["fp32_s"])  # the faster one, on any CPU
    assert (second["bf16"], second["fp32_s"]) == (first["bf16"], first["fp32_s"])
    cache = json.loads((workspace.cache / "precision.json").read_text())
    assert len(cache) == 1 and next(iter(cache.values()))["bf16"] == first["bf16"]
    # the run trained with the choice: its config says auto, its event says which
    assert "CPU precision" in events[0].message
