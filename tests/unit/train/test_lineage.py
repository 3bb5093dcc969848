"""The lineage on disk: split and order, the one state reader, crash recovery, the ledger."""

from __future__ import annotations

import json
from pathlib import Path

from mentor.config import Config
from mentor.paths import Workspace
from mentor.store import connect
from mentor.store import lineage as lineage_rows
from mentor.train import lineage


def _ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    for d in ws.layout():
        d.mkdir(parents=True, exist_ok=True)
    return ws


def test_split_and_order_are_seeded_and_disjoint() -> None:
    cfg = Config()
    cfg.data.holdout_fraction, cfg.data.holdout_max = 0.2, 3
    cfg.training.epochs_per_file = 2
    keep = [i for i in range(40) if i != 7]  # row 7 was dropped by validation
    held, train = lineage.split_rows(keep, cfg, "ab" * 32)
    assert len(held) == 3 and not set(held) & set(train) and sorted(held + train) == keep
    assert lineage.split_rows(keep, cfg, "ab" * 32) == (held, train)
    assert lineage.split_rows(keep, cfg, "cd" * 32) != (held, train)  # the file seeds it
    order = lineage.training_order(train, cfg, "ab" * 32, pass_no=0)
    assert sorted(order) == sorted(train * 2) and order[: len(train)] != train
    assert order == lineage.training_order(train, cfg, "ab" * 32, pass_no=0)
    assert order != lineage.training_order(train, cfg, "ab" * 32, pass_no=1)


def _checkpoint(path: Path, step: int) -> None:
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(b"w%d" % step)
    (path / "mentor_state.json").write_text(json.dumps({"lineage_id": 1, "global_step": step}))


def test_one_reader_sees_the_saved_checkpoint_through_an_interrupted_swap(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    ws.current.rmdir()
    assert lineage.read_state(ws) is None
    _checkpoint(ws.current.with_name(".current.old"), 4)  # crash between the two renames
    assert lineage.read_state(ws) == {"lineage_id": 1, "global_step": 4}
    assert not ws.current.exists()  # reading changed nothing
    lineage.recover(ws)
    assert (ws.current / "adapter_model.safetensors").read_bytes() == b"w4"
    assert not ws.current.with_name(".current.old").exists()
    # the new checkpoint was complete: the old one goes, and half-written ones too
    _checkpoint(ws.current.with_name(".current.old"), 2)
    (ws.current.with_name(".incoming-123") / "half").mkdir(parents=True)
    lineage.recover(ws)
    assert lineage.read_state(ws) == {"lineage_id": 1, "global_step": 4}
    assert sorted(p.name for p in ws.current.parent.iterdir()) == ["current"]


def test_commit_checkpoint_swaps_in_the_state(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    folder = ws.run_folder("r1").trainer / "checkpoint-3"
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"w3")
    lineage.commit_checkpoint(ws, folder, {"lineage_id": 2, "global_step": 3})
    state = lineage.read_state(ws)
    assert state is not None and state["global_step"] == 3 and "updated_at" in state
    assert (ws.current / "adapter_model.safetensors").read_bytes() == b"w3"
    assert not folder.exists()
    assert sorted(p.name for p in ws.current.parent.iterdir()) == ["current"]


def test_sync_ledger_keeps_exactly_the_rows_of_the_checkpoint(tmp_path: Path) -> None:
    """Rows are written after the checkpoint that covers them: a crash in between is repaired
    from the checkpoint's tail; rows of steps no checkpoint holds are forgotten."""
    conn = connect(tmp_path / "state.db")
    lid = lineage_rows.create(conn, "base")
    lineage_rows.record(conn, lid, "f" * 64, [0, 1], 1, "r1")
    lineage_rows.record(conn, lid, "f" * 64, [2, 3], 2, "r1")
    lineage_rows.record(conn, lid, "f" * 64, [9], 6, "r0")  # a later checkpoint, since restored
    tail = lineage.ledger_tail("r2", "f" * 64, [(3, [4, 5]), (4, [6])])
    state = {"lineage_id": lid, "global_step": 4, "ledger_tail": tail}
    lineage.sync_ledger(conn, state)
    lineage.sync_ledger(conn, state)  # idempotent
    assert lineage_rows.rows(conn, lid, "f" * 64) == [0, 1, 2, 3, 4, 5, 6]
    assert lineage_rows.last_step(conn, lid) == 4


def test_replay_packs_follow_their_own_pack_and_a_resume_rebuilds_them() -> None:
    """Replayed rows never move the file's position and depend only on it (issue 15)."""
    from mentor.data.packing import one_per_pack
    from mentor.train.lineage import FilePlan
    from mentor.train.replay import ReplaySet, mix

    order = list(range(10))
    rs = ReplaySet(100, [("e" * 64, r) for r in range(5)], [[1, 2]] * 5, [[1, 2]] * 5)

    def plan(next_row: int) -> FilePlan:
        return FilePlan({}, [], order, one_per_pack(order[next_row:], offset=next_row), False)

    full = mix(plan(0), rs, 64).packs
    assert [p.rows[0] for p in full if p.rows[0] < 100] == order  # own rows, in order, once
    assert sum(p.rows[0] >= 100 for p in full) == 5  # f = 1/3: one replayed row per 2 own
    assert all(p.start == p.end for p in full if p.rows[0] >= 100)  # no progress
    resumed = mix(plan(4), rs, 64).packs
    assert resumed == [p for p in full if p.start >= 4 and not (p.start == p.end == 4)]


def test_augmented_copies_stay_with_their_source_on_one_side(tmp_path: Path) -> None:
    # An inbox file augmented by the daemon (data.augment.enabled): the source row, then its
    # copies; a copy held out while its source trains would make the held-out score a training
    # score.
    from mentor.data.augment import augment_rows
    from mentor.data.tokenize import read_jsonl
    from mentor.data.validate import ValidationReport
    from mentor.tasks.syllo.generate import generate

    cfg = Config()
    cfg.data.holdout_fraction, cfg.data.holdout_max = 0.3, 12
    cfg.data.augment.factor, cfg.data.augment.ops = 2, ["shuffle_bank"]
    out, _ = augment_rows(generate(10, 4), cfg.data.augment)
    f = tmp_path / "aug.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in out))
    parsed = read_jsonl(f)
    report = ValidationReport(
        path=str(f), file_hash=parsed.file_hash, max_length=1, on_overlength="refuse"
    )
    report.parsed, report.keep = parsed, list(range(len(parsed.rows)))
    groups = lineage.augment_groups(report)
    assert groups is not None and len(set(groups.values())) == 10
    held, train = lineage.split_report(report, cfg)
    assert held and train and sorted(held + train) == report.keep
    assert {groups[i] for i in held}.isdisjoint({groups[i] for i in train})
    assert lineage.split_report(report, cfg) == (held, train)  # seeded
