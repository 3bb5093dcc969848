"""Faults during training: OOM, NaN, a process killed before and after a checkpoint.

Faults come in through ``train_file(callbacks=...)``, as a ``TrainerCallback`` would: an OOM is
raised by the model's forward (a hook put on it for one micro-batch), a NaN is written into the
LoRA weights, and a kill is a ``BaseException`` that no handler of training catches, so nothing
after it runs: what a killed process leaves behind.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from helpers.kills import KillAt, Killed
from mentor.store import connect, events
from mentor.store.lineage import file_rows
from mentor.store.runs import get as get_run
from mentor.store.runs import listing
from mentor.train import train_file
from mentor.train.run_folder import LOST_METRICS

pytestmark = pytest.mark.slow


class OomOnce(TrainerCallback):
    """The forward of the first micro-batch after ``step`` steps runs out of memory, once."""

    def __init__(self, step: int) -> None:
        self.step, self.fired = step, False

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step and not self.fired:
            self.fired = True

            def hook(module, inputs):
                handle.remove()
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

            handle = model.register_forward_pre_hook(hook)
        return control


class NanAt(TrainerCallback):
    """LoRA B becomes NaN before the step after ``step`` steps: a diverged run."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step:
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if "lora_B" in n:
                        p.fill_(float("nan"))
        return control


def _adapter(ws) -> dict[str, torch.Tensor]:
    return load_file(str(ws.current / "adapter_model.safetensors"))


def _steps(path) -> list[int]:
    if not path.is_file():
        return []
    return [json.loads(x)["step"] for x in path.read_text().splitlines() if x.strip()]


def test_oom_retry_halves_micro_batch(workspace, train_cfg, syllo_file) -> None:
    cfg = train_cfg(batch_size=4)
    o = train_file(workspace, cfg, syllo_file("o.jsonl", 16), callbacks=[OomOnce(1)])
    assert o.status == "completed" and o.metrics["oom_split"] == 2
    conn = connect(workspace.db)
    ev = events.recent(conn, kinds=["train.oom_retry"])
    assert len(ev) == 1 and ev[0].data["grad_accum"] == 2 and ev[0].data["step"] == 2
    assert all(torch.isfinite(v).all() for v in _adapter(workspace).values())


def test_nan_stops_and_keeps_last_good_checkpoint(workspace, train_cfg, syllo_file) -> None:
    cfg = train_cfg(save_steps=2)
    o = train_file(workspace, cfg, syllo_file("n.jsonl", 16), callbacks=[NanAt(3)])
    assert o.status == "failed" and "NaN" in o.message
    assert "last good checkpoint (step 2)" in o.message
    state = json.loads(workspace.lineage_state.read_text())
    assert state["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in _adapter(workspace).values())
    conn = connect(workspace.db)
    assert conn.execute("SELECT MAX(step) FROM ledger").fetchone()[0] == 2
    run = get_run(conn, o.run_id)
    assert run is not None and run.status == "failed"
    # step 3 was trained again by nobody yet: its record left metrics.jsonl with the update
    folder = workspace.run_folder(o.run_id)
    assert _steps(folder.metrics) == [1, 2] and _steps(folder.path / LOST_METRICS) == [3]


def test_killed_runs_are_closed_and_their_lost_steps_trained_once(
    workspace, train_cfg, syllo_file
) -> None:
    """Defects 3 and 4: a process killed before a new lineage's first checkpoint, then one
    killed after a checkpoint, then a run to the end: the ledger holds each row once, the dead
    runs are closed as killed, and each step of the lineage is in one run's metrics only."""
    cfg = train_cfg(save_steps=2, packing=False)  # one puzzle a sequence: 2 rows a step
    f = syllo_file("k.jsonl", 12)
    with pytest.raises(Killed):
        train_file(workspace, cfg, f, callbacks=[KillAt(1)])  # no checkpoint yet
    with pytest.raises(Killed):
        train_file(workspace, cfg, f, callbacks=[KillAt(3)])  # checkpoint at step 2
    done = train_file(workspace, cfg, f)
    assert done.status == "completed" and done.global_step == 5

    conn = connect(workspace.db)
    state = json.loads(workspace.lineage_state.read_text())
    entries = file_rows(conn, done.file_hash)
    rows = [r for _, r in entries]
    assert len(rows) == len(set(rows)) == done.rows_total  # no row twice, none missing
    assert {lineage for lineage, _ in entries} == {state["lineage_id"]}

    first, second = [r.id for r in listing(conn)][:2]
    for run_id, kept, lost in ((first, [], [1]), (second, [1, 2], [3])):
        run = get_run(conn, run_id)
        assert run is not None and run.status == "killed"
        assert run.summary["lost_after_step"] == (0 if run_id == first else 2)
        folder = workspace.run_folder(run_id)
        assert _steps(folder.metrics) == kept and _steps(folder.path / LOST_METRICS) == lost
    assert _steps(workspace.run_folder(done.run_id).metrics) == [3, 4, 5]
    assert [e.data["run_id"] for e in events.recent(conn, kinds=["train.killed"])] == [
        second,
        first,
    ]
