"""Warmup proportionate to what is trained (issue 13 item 7): a 300-row first file with the
default warmup settings trains most of its steps at full LR."""

from __future__ import annotations

import json
from pathlib import Path

from mentor import config as config_mod
from mentor.config import Config
from mentor.train import train_file
from mentor.train.schedule import lineage_warmup


def test_a_short_first_file_is_not_all_warmup(workspace, tmp_path: Path) -> None:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"q {i}"},
                {"role": "assistant", "content": f"a {i}"},
            ]
        }
        for i in range(300)
    ]
    path = tmp_path / "first.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config_mod.load(workspace.config_file)
    t = cfg.training  # the warmup keys keep their defaults; a small, quick batch geometry
    t.lora_r = t.lora_alpha = 4
    t.batch_size, t.grad_accum, t.max_length = 2, 1, 256
    cfg.eval.val_every = cfg.eval.live_every = 0
    out = train_file(workspace, cfg, path)
    assert out.status == "completed" and out.rows_trained == 285  # 15 rows held out
    lrs = [
        json.loads(x)["lr"]
        for x in workspace.run_folder(out.run_id).metrics.read_text().splitlines()
    ]
    steps = out.global_step
    assert steps >= 10 and len(lrs) == steps
    peak = t.learning_rate
    full = [lr for lr in lrs if lr >= 0.99 * peak]
    assert len(full) / len(lrs) >= 0.85  # before: warmup 100 > steps, never at full LR
    state = json.loads(workspace.lineage_state.read_text())
    assert state["warmup_steps"] == steps // 10 == lineage_warmup(t, steps)  # kept with it


def test_warmup_is_a_share_of_the_first_file_capped_by_warmup_steps() -> None:
    t = Config().training
    assert lineage_warmup(t, 4) == 0  # the 300-row file of 4 steps: all at full LR
    assert lineage_warmup(t, 72) == 7
    assert lineage_warmup(t, 5000) == 100  # a long first file: warmup_steps caps it
    t.warmup_ratio = 1.0
    assert lineage_warmup(t, 40) == 40 and lineage_warmup(t, 400) == 100
