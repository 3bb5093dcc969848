"""Replay (issue 15): rows of earlier files mixed into a file's training, marked in the ledger,
never the file's progress; a resumed file neither skips nor repeats its own rows."""

from __future__ import annotations

import json

import pytest

from mentor.store import connect
from mentor.store.lineage import replayed
from mentor.store.lineage import rows as ledger_rows
from mentor.train import train_file

pytestmark = pytest.mark.slow


def _stop_after(n: int):
    calls = {"n": 0}

    def control() -> str | None:
        calls["n"] += 1
        return "pause" if calls["n"] == n else None

    return control


def test_replayed_rows_are_marked_and_a_resumed_file_trains_each_own_row_once(
    workspace, train_cfg, syllo_file
) -> None:
    cfg = train_cfg(replay_fraction=0.5, packing=False)
    a, b = syllo_file("a.jsonl", 10, seed=1), syllo_file("b.jsonl", 12, seed=2)
    oa = train_file(workspace, cfg, a)
    assert oa.status == "completed"
    a.rename(workspace.done / "20260101-000000_a.jsonl")  # archived as the daemon does

    o1 = train_file(workspace, cfg, b, control=_stop_after(2))
    assert o1.status == "paused" and 0 < o1.next_row < o1.rows_total
    o2 = train_file(workspace, cfg, b)
    assert o2.status == "completed" and o2.next_row == o2.rows_total == 10  # own rows only

    conn = connect(workspace.db)
    lid = json.loads(workspace.lineage_state.read_text())["lineage_id"]
    own = ledger_rows(conn, lid, o2.file_hash)
    assert len(own) == len(set(own)) == 10  # every own row once across the pause
    a_trained = set(ledger_rows(conn, lid, oa.file_hash))
    rep = replayed(conn, lid, oa.file_hash)
    # f = 0.5: one replayed row per own row (a pause may drop the replay due at its boundary)
    assert 8 <= len(rep) <= 10
    assert {r for r, _ in rep} <= a_trained  # trained rows of a, never its held-out rows
    assert {run for _, run in rep} <= {o1.run_id, o2.run_id}
    assert len(ledger_rows(conn, lid, oa.file_hash)) == 8  # a's own entries unchanged
    assert o1.rows_trained + o2.rows_trained >= 10 + len(rep) - 1
