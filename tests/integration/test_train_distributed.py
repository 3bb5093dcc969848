"""Multi-GPU training proven on the CPU: two gloo ranks against one process (train/distributed.py).

One test, three trainings of the tiny model on the same 8 rows (2 of 10 held out), 4 optimizer
steps of a global batch of 2 sequences:

1. one process, micro-batch 1 x accumulation 2 (in-process ``train_file``): the reference;
2. two ranks started by the daemon's :class:`~mentor.daemon.launcher.Launcher`
   (``training.gpus=2``: torchrun running ``mentor.daemon.child``), micro-batch 1 x 2 ranks;
   rank 0 writes a pause request at step 2, which only rank 0 reads;
3. the resume from that checkpoint with ``mentor train --gpus 2 --backend gloo``.

What it proves: the pause reached both ranks at the same step (each rank's own outcome says
paused at step 2, and the launch ended instead of hanging in an all-reduce); the 2-rank loss
curve of steps 1-4, across the pause, matches the 1-process curve within ``REL_TOL`` relative
(only the order of float sums may differ; here the curves are equal to the last bit); the
ledger holds the same rows at the same steps and the lineage the same token counts (rank 0
records every rank's rows); the final adapters agree; rank 0 alone printed the CLI's JSON.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mentor import config as config_mod
from mentor import control
from mentor.daemon.launcher import Launcher
from mentor.paths import Workspace
from mentor.store import connect, jobs, transaction
from mentor.train import train_file
from mentor.train.lineage import read_state

pytestmark = pytest.mark.slow

HELPER = Path(__file__).resolve().parents[1] / "helpers" / "train_ranks.py"
REL_TOL = 1e-3  # loss per step, 2 ranks vs 1 process (float summation order only)
COMMON = [
    "training.max_length=512",
    "training.packing=false",  # one row a sequence: 8 rows, 4 steps of 2
    "training.lora_r=4",
    "training.lora_alpha=4",
    "training.lora_dropout=0",  # ranks draw their own dropout masks: off to compare exactly
    "training.logging_steps=1",
    "training.save_steps=1000",
    "training.warmup_steps=3",
    "training.learning_rate=1e-3",
    "training.batch_size=1",
    "eval.val_every=0",
    "eval.live_every=0",
    "data.holdout_max=2",
    "data.holdout_fraction=0.2",
]


def _curve(ws: Workspace) -> list[tuple[int, float]]:
    recs = [
        json.loads(line)
        for f in sorted(ws.runs.glob("*/metrics.jsonl"))
        for line in f.read_text().splitlines()
    ]
    return sorted((int(r["step"]), float(r["loss"])) for r in recs)


def _ledger(ws: Workspace) -> list[tuple[int, int]]:
    with sqlite3.connect(ws.db) as conn:
        return list(conn.execute("SELECT step, row_index FROM ledger ORDER BY step, row_index"))


def test_two_gloo_ranks_match_one_process_pause_and_resume(
    workspace: Workspace, syllo_file, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = syllo_file("a.jsonl", 10)
    ref = Workspace(tmp_path / "ref")
    shutil.copytree(workspace.home, ref.home)

    cfg_one = config_mod.load(ref.config_file, [*COMMON, "training.grad_accum=2"])
    one = train_file(ref, cfg_one, data)
    assert (one.status, one.global_step, one.rows_trained) == ("completed", 4, 8)

    # two ranks through the daemon's launcher; rank 0 asks for a pause at step 2
    monkeypatch.setenv("MENTOR_TEST_PAUSE_AT", "2")
    two = [*COMMON, "training.grad_accum=1"]
    conn = connect(workspace.db)
    with transaction(conn):
        job = jobs.insert(conn, path=str(data), name=data.name, state="training")
    conn.close()
    launcher = Launcher(
        workspace, [*two, "training.gpus=2"], functions={"train": f"{HELPER}:train_then_pause"}
    )
    child = launcher.start("train", job=job)
    assert child.proc.args[1:4] == ["-m", "torch.distributed.run", "--standalone"]  # type: ignore[index]
    try:
        rc = child.proc.wait(timeout=900)
    finally:
        child.wait()
    log = (workspace.logs / f"job{job.id}-train.log").read_text(errors="replace")
    assert rc == 0, log[-4000:]
    outcome = child.outcome()
    assert outcome is not None and (outcome["status"], outcome["global_step"]) == ("paused", 2)
    ranks = [json.loads(x) for x in (workspace.logs / "ranks.jsonl").read_text().splitlines()]
    assert sorted((r["rank"], r["status"], r["global_step"], r["next_row"]) for r in ranks) == [
        (0, "paused", 2, 4),
        (1, "paused", 2, 4),
    ]
    assert {p.name for p in workspace.current.glob("rng_state*.pth")} == {
        "rng_state_0.pth",
        "rng_state_1.pth",
    }

    # resume from that checkpoint through the CLI's launch
    control.clear(workspace)
    sets = [x for s in two for x in ("--set", s)]
    cmd = [sys.executable, "-m", "mentor", "--home", str(workspace.home), "train", str(data)]
    res = subprocess.run(
        [*cmd, "--gpus", "2", "--backend", "gloo", "--json", *sets],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    printed = [line for line in res.stdout.splitlines() if line.startswith("{")]
    assert len(printed) == 1  # rank 0 alone reports
    (resumed,) = json.loads(printed[0])["outcomes"]
    assert (resumed["status"], resumed["global_step"], resumed["rows_trained"]) == (
        "completed",
        4,
        4,
    )

    curve, ref_curve = _curve(workspace), _curve(ref)
    assert [s for s, _ in curve] == [s for s, _ in ref_curve] == [1, 2, 3, 4]
    worst = max(abs(a - b) / abs(b) for (_, a), (_, b) in zip(curve, ref_curve, strict=True))
    assert worst < REL_TOL, (curve, ref_curve)
    assert _ledger(workspace) == _ledger(ref)
    s2, s1 = read_state(workspace), read_state(ref)
    assert s2 is not None and s1 is not None
    for key in ("global_step", "tokens", "label_tokens"):
        assert s2[key] == s1[key], key
    a2 = load_file(str(workspace.current / "adapter_model.safetensors"))
    a1 = load_file(str(ref.current / "adapter_model.safetensors"))
    assert a2.keys() == a1.keys()
    for k in a1:
        torch.testing.assert_close(a2[k], a1[k], rtol=1e-3, atol=1e-5)
