"""A damaged checkpoint and a full disk, through the real Trainer on the tiny model.

A checkpoint whose files no longer match the sha256 it was saved with (truncated, bit-flipped)
is set aside and training resumes from the previous checkpoint: the ledger still holds each row
once, and only the rows after that checkpoint are trained again. With no intact checkpoint left,
training refuses instead of training on corrupt state. A writer that fails with ENOSPC in the
middle of a checkpoint leaves the last good checkpoint whole and no half-written folder.
"""

from __future__ import annotations

import errno
import json

import pytest

from helpers.kills import KillAt, Killed
from mentor.errors import IntegrityError
from mentor.store import connect, events
from mentor.store.lineage import file_rows
from mentor.train import lineage, train_file

pytestmark = pytest.mark.slow


def _ledger(ws, file_hash: str) -> list[int]:
    conn = connect(ws.db)
    try:
        return [r for _, r in file_rows(conn, file_hash)]
    finally:
        conn.close()


def test_damaged_checkpoint_falls_back_to_the_previous_one(workspace, train_cfg, syllo_file, tally):
    ws = workspace
    cfg = train_cfg(save_steps=2, packing=False)  # one puzzle a sequence: 2 rows a step
    f = syllo_file("c.jsonl", 12)
    with pytest.raises(Killed):
        train_file(ws, cfg, f, callbacks=[KillAt(4)])  # checkpoints at steps 2 and 4
    prev = ws.current.with_name(".current.prev")
    assert json.loads(ws.lineage_state.read_text())["global_step"] == 4
    assert json.loads((prev / "mentor_state.json").read_text())["global_step"] == 2
    weights = ws.current / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated

    done = train_file(ws, cfg, f)
    assert done.status == "completed" and done.global_step == 5
    rows = _ledger(ws, done.file_hash)
    assert len(rows) == len(set(rows)) == done.rows_total  # each row once, none lost
    conn = connect(ws.db)
    ev = events.recent(conn, kinds=["train.checkpoint_corrupt"])
    conn.close()
    assert len(ev) == 1 and ev[0].data["fallback_step"] == 2
    assert "adapter_model.safetensors checksum mismatch" in ev[0].data["damaged"]
    assert list(ws.current.parent.glob(".current.corrupt-*"))
    assert not lineage.damage(ws.current)

    # nothing intact left: training refuses, nothing is trained
    for folder in (ws.current, prev):
        victim = folder / "optimizer.pt"
        blob = bytearray(victim.read_bytes())
        blob[len(blob) // 2] ^= 0xFF  # one flipped bit-pattern in the middle
        victim.write_bytes(bytes(blob))
    before = _ledger(ws, done.file_hash)
    g = syllo_file("d.jsonl", 6, seed=2)
    with pytest.raises(IntegrityError, match="no intact previous checkpoint"):
        train_file(ws, cfg, g)
    assert _ledger(ws, done.file_hash) == before
    tally("faults", "checkpoint truncated / bit-flipped (checksum)", tried=2, held=2)


@pytest.mark.reliability_full
def test_full_disk_during_a_checkpoint_leaves_the_last_good_one(
    workspace, train_cfg, syllo_file, monkeypatch, tally
):
    ws = workspace
    cfg = train_cfg(save_steps=2, packing=False)
    f = syllo_file("e.jsonl", 12)
    real = lineage.atomic_write_json
    calls = {"n": 0}

    def failing_writer(path, obj):  # the second checkpoint's state write finds the disk full
        if path.name == "mentor_state.json" and ".incoming-" in str(path.parent):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, obj)

    monkeypatch.setattr(lineage, "atomic_write_json", failing_writer)
    with pytest.raises(OSError) as err:
        train_file(ws, cfg, f)
    assert err.value.errno == errno.ENOSPC
    monkeypatch.setattr(lineage, "atomic_write_json", real)
    state = json.loads(ws.lineage_state.read_text())
    assert state["global_step"] == 2 and not lineage.damage(ws.current)  # the good one, whole
    leftovers = [p.name for p in ws.current.parent.iterdir() if p.name.startswith(".incoming-")]
    assert len(leftovers) <= 1  # the interrupted stage is dropped by the next start
    assert len(_ledger(ws, state["current_file"])) == 4  # rows of steps 1-2 only

    done = train_file(ws, cfg, f)  # space again: resumes at step 2, nothing half-written
    assert done.status == "completed" and done.global_step == 5
    assert not [p for p in ws.current.parent.iterdir() if p.name.startswith(".incoming-")]
    rows = _ledger(ws, done.file_hash)
    assert len(rows) == len(set(rows)) == done.rows_total
    tally("faults", "disk full during a checkpoint (failing writer)", tried=1, held=1)
