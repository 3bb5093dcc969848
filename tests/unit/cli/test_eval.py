"""`mentor summary` reads the status snapshot as the real writer writes it.

The snapshot comes from a real training fed through the daemon child's progress callback into
the real StatusWriter, so the test fails if either side renames a key (lessons: a test once fed
the summary a hand-written ``step`` that the writer never writes; it writes ``current_step``).
"""

from __future__ import annotations

import json
import os
from argparse import Namespace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mentor import config as config_mod
from mentor.cli import app
from mentor.paths import Workspace

OVR = [
    "training.max_length=256",
    "training.lora_r=4",
    "training.lora_alpha=4",
    "training.batch_size=2",
    "training.grad_accum=1",
    "training.packing=false",
    "training.warmup_steps=1",
    "eval.live_every=0",
    "eval.val_every=0",
    "data.holdout_fraction=0",
]


def _rows(path: Path, n: int) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            msgs = [
                {"role": "user", "content": f"{i} plus 3?"},
                {"role": "assistant", "content": str(i + 3)},
            ]
            f.write(json.dumps({"messages": msgs}) + "\n")
    return path


@pytest.mark.slow
def test_summary_reads_the_step_the_training_status_writer_wrote(
    workspace: Workspace, tmp_path: Path
) -> None:
    from mentor.daemon.child import run_train
    from mentor.train import train_file

    cfg = config_mod.load(workspace.config_file, OVR)
    args = Namespace(name="a.jsonl", path=str(_rows(tmp_path / "a.jsonl", 6)), job=None)
    args.parent = os.getppid()
    out = run_train(workspace, cfg, args, train_file)
    assert out["status"] == "completed" and out["global_step"] == 3

    def summary() -> dict:
        res = CliRunner().invoke(app, ["--home", str(workspace.home), "summary", "--json"])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout.splitlines()[-1])

    assert summary()["step"] == out["global_step"]
    # the summary falls back to the run's metrics.jsonl; without it only the snapshot answers
    for f in workspace.runs.glob("*/metrics.jsonl"):
        f.unlink()
    summ = summary()
    assert summ["step"] == out["global_step"]
    assert summ["current_file"] == "a.jsonl"
    assert isinstance(summ["loss"], float) and summ["loss"] == summ["status"]["loss"]
