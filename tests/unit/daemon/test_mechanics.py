"""Daemon mechanics with a fast stand-in trainer run in the real child process.

The stand-in (``fake_train_file`` below, loaded by the child from this file) keeps a per-file
position in ``model/current/mentor_state.json``, writes a ledger row per trained row, checks
control after every "step" and checkpoints on pause/stop/skip, so the daemon's state machine,
inbox, queue, control, versions, backups and recovery are tested in seconds. Real training is
in tests/integration/test_daemon_training.py.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mentor.paths import Workspace
from mentor.store import versions as version_rows

HERE = Path(__file__).resolve()
ROW = {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}


def fake_train_file(
    ws: Workspace, cfg: Any, path: Path, *, job_id=None, control=None, progress=None, status=None
):
    import hashlib

    from mentor.store import connect

    delay = float(os.environ.get("FAKE_STEP_S", "0.05"))
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    h = hashlib.sha256(path.read_bytes()).hexdigest()
    ws.current.mkdir(parents=True, exist_ok=True)
    sf = ws.current / "mentor_state.json"
    st = (
        json.loads(sf.read_text())
        if sf.exists()
        else {"lineage_id": 1, "global_step": 0, "files": {}}
    )
    entry = st["files"].setdefault(h, {"name": path.name, "next_row": 0, "status": "in_progress"})
    conn = connect(ws.db)

    def ckpt() -> None:
        (ws.current / "adapter_config.json").write_text("{}")
        (ws.current / "adapter_model.safetensors").write_bytes(
            b"w" * 64 + str(st["global_step"]).encode()
        )
        tmp = sf.with_suffix(".tmp")
        tmp.write_text(json.dumps(st))
        os.replace(tmp, sf)

    status = "completed"
    trained = 0
    while entry["next_row"] < len(rows):
        act = control() if control else None
        if act:
            status = {"pause": "paused", "stop": "stopped", "skip": "skipped"}[act]
            break
        time.sleep(delay)
        conn.execute(
            "INSERT INTO ledger (lineage_id, file_hash, row_index, step, ts) VALUES (1, ?, ?, ?, ?)",
            (h, entry["next_row"], st["global_step"] + 1, time.time()),
        )
        entry["next_row"] += 1
        st["global_step"] += 1
        trained += 1
        ckpt()
        if progress:
            progress(
                {
                    "step": st["global_step"],
                    "loss": 1.0 / st["global_step"],
                    "file_step": entry["next_row"],
                    "file_steps": len(rows),
                    "lr": 1e-4,
                    "tokens_per_s": 100.0,
                }
            )
    entry["status"] = (
        "completed"
        if status == "completed"
        else ("skipped" if status == "skipped" else "in_progress")
    )
    ckpt()
    conn.close()
    return {
        "status": status,
        "run_id": None,
        "file_hash": h,
        "rows_total": len(rows),
        "rows_trained": trained,
        "next_row": entry["next_row"],
        "global_step": st["global_step"],
        "tokens": trained * 10,
        "metrics": {"loss": 0.5},
        "message": f"{status}",
    }


def write_rows(path: Path, n: int, tag: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for i in range(n):
            row = json.loads(json.dumps(ROW))
            row["messages"][0]["content"] = f"{tag} question {i}?"
            f.write(json.dumps(row) + "\n")
    return path


@pytest.fixture()
def fake_ws(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setattr("mentor.daemon.core.evals_available", lambda: False)
    monkeypatch.setenv("FAKE_STEP_S", "0.05")
    return workspace


OVR = [
    "daemon.settle_seconds=0.3",
    "daemon.backoff_seconds=0",
    "daemon.min_free_gib=0",
    "daemon.poll_seconds=0.1",
    "daemon.snapshot_at=null",
]


def make_daemon(ws: Workspace, *, clock=time.time, extra: list[str] | None = None):
    from mentor.daemon.core import Daemon, Launcher

    ovr = OVR + (extra or [])
    return Daemon(
        ws,
        overrides=ovr,
        clock=clock,
        watch=False,
        launcher=Launcher(ws, ovr, train_fn=f"{HERE}:fake_train_file"),
    )


def drive(d, until, timeout: float = 30.0) -> None:
    t0 = time.time()
    while not until():
        d.run_once(d.clock())
        if time.time() - t0 > timeout:
            raise AssertionError("timed out")
        time.sleep(0.05)


def jobs(ws: Workspace) -> list[sqlite3.Row]:
    c = sqlite3.connect(ws.db)
    c.row_factory = sqlite3.Row
    rows = c.execute("SELECT * FROM jobs ORDER BY id").fetchall()
    c.close()
    return rows


def ledger(ws: Workspace) -> list[tuple[str, int]]:
    c = sqlite3.connect(ws.db)
    rows = c.execute("SELECT file_hash, row_index FROM ledger").fetchall()
    c.close()
    return rows


def test_settle_and_injected_clock(fake_ws: Workspace) -> None:
    """A file is taken only once size+mtime held still settle_seconds of the daemon's clock."""
    now = [1000.0]
    d = make_daemon(fake_ws, clock=lambda: now[0], extra=["daemon.settle_seconds=5"])
    d.start()
    try:
        write_rows(fake_ws.inbox / "sub" / "a.jsonl", 3)
        d.run_once(now[0])
        assert jobs(fake_ws) == []
        now[0] += 4.9
        d.run_once(now[0])
        assert jobs(fake_ws) == []
        now[0] += 0.2
        d.run_once(now[0])
        (job,) = jobs(fake_ws)
        assert job["name"] == "sub/a.jsonl"
        assert job["state"] in ("queued", "training")
        assert not (fake_ws.inbox / "sub" / "a.jsonl").exists()  # moved out: never taken twice
    finally:
        d.request_stop()
        drive(d, lambda: d.child is None)
        d.close()


def test_three_files_one_bad_versions_and_done(fake_ws: Workspace) -> None:
    d = make_daemon(fake_ws)
    d.start()
    try:
        write_rows(fake_ws.inbox / "a.jsonl", 4, "a")
        (fake_ws.inbox / "bad.jsonl").write_text(json.dumps(ROW) + "\n{not json\n")
        write_rows(fake_ws.inbox / "c.jsonl", 3, "c")
        drive(
            d,
            lambda: (
                len(jobs(fake_ws)) == 3
                and all(j["state"] in ("done", "failed") for j in jobs(fake_ws))
            ),
        )
    finally:
        d.close()
    states = {j["name"]: j["state"] for j in jobs(fake_ws)}
    assert states == {"a.jsonl": "done", "bad.jsonl": "failed", "c.jsonl": "done"}
    err = list(fake_ws.failed.glob("*bad.jsonl.error.json"))
    assert err, list(fake_ws.failed.iterdir())
    reasons = json.loads(err[0].read_text())["reasons"]
    assert any("bad.jsonl:2" in r for r in reasons), reasons
    assert len(list(fake_ws.done.glob("*_a.jsonl"))) == 1
    from mentor.daemon import versions
    from mentor.store import connect, events

    conn = connect(fake_ws.db)
    vs = version_rows.listing(conn)
    assert [v.short for v in vs] == ["v001", "v002"]
    assert (fake_ws.versions / "v001").is_symlink()
    versions.verify(fake_ws, conn, "v1")
    man = versions.manifest(fake_ws, vs[1])
    assert man["parent"] == vs[0].name and man["data"][0]["file"] in ("a.jsonl", "c.jsonl")
    kinds = {e.kind for e in events.recent(conn, limit=200)}
    assert {"validation_rejected", "job_started", "job_finished", "version_created"} <= kinds
    conn.close()
    assert sorted(ledger(fake_ws)) == sorted(set(ledger(fake_ws)))  # every row once


def test_pause_resume_keeps_position(fake_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from mentor import control

    monkeypatch.setenv("FAKE_STEP_S", "0.1")
    d = make_daemon(fake_ws)
    d.start()
    try:
        write_rows(fake_ws.inbox / "a.jsonl", 30)
        drive(d, lambda: len(ledger(fake_ws)) >= 3)
        control.request(fake_ws, "pause")
        drive(d, lambda: jobs(fake_ws)[0]["state"] == "paused")
        done_at_pause = jobs(fake_ws)[0]["rows_done"]
        assert 3 <= done_at_pause < 30
        for _ in range(5):
            d.run_once(time.time())
        assert d.child is None and jobs(fake_ws)[0]["state"] == "paused"  # the daemon idles
        control.request(fake_ws, "resume")
        drive(d, lambda: jobs(fake_ws)[0]["state"] == "done")
    finally:
        d.close()
    rows = [r for _, r in ledger(fake_ws)]
    assert sorted(rows) == list(range(30))  # every row exactly once


def test_skip_records_remaining_rows(fake_ws: Workspace) -> None:
    from mentor import control

    d = make_daemon(fake_ws)
    d.start()
    try:
        write_rows(fake_ws.inbox / "a.jsonl", 200, "a")
        drive(d, lambda: len(ledger(fake_ws)) >= 2)
        write_rows(fake_ws.inbox / "b.jsonl", 2, "b")
        control.request(fake_ws, "skip", "not needed")
        drive(d, lambda: [j["state"] for j in jobs(fake_ws)] == ["skipped", "done"])
    finally:
        d.close()
    a = jobs(fake_ws)[0]
    note = json.loads(next(fake_ws.done.glob("*_a.jsonl.json")).read_text())
    assert note["skipped"] and note["remaining_rows"] == 200 - a["rows_done"] > 0
    assert note["reason"] == "not needed"


def test_child_kill9_retries_from_checkpoint(
    fake_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.1")
    d = make_daemon(fake_ws)
    d.start()
    try:
        write_rows(fake_ws.inbox / "a.jsonl", 20)
        drive(d, lambda: len(ledger(fake_ws)) >= 4)
        os.kill(d.child.proc.pid, signal.SIGKILL)
        drive(d, lambda: jobs(fake_ws)[0]["state"] == "done")
    finally:
        d.close()
    job = jobs(fake_ws)[0]
    assert job["attempts"] == 1
    rows = [r for _, r in ledger(fake_ws)]
    assert set(rows) == set(range(20))
    # the row being trained at the kill may be repeated at most once; nothing is lost
    assert len(rows) - 20 <= 1


def test_max_attempts_then_failed(fake_ws: Workspace) -> None:
    from mentor.daemon.core import Daemon, Launcher

    ovr = [*OVR, "daemon.max_attempts=2"]
    d = Daemon(
        fake_ws,
        overrides=ovr,
        watch=False,
        launcher=Launcher(fake_ws, ovr, train_fn=f"{HERE}:nope"),
    )
    d.start()
    try:
        write_rows(fake_ws.inbox / "a.jsonl", 2)
        drive(d, lambda: jobs(fake_ws) and jobs(fake_ws)[0]["state"] == "failed")
    finally:
        d.close()
    assert jobs(fake_ws)[0]["attempts"] == 2
    assert list(fake_ws.failed.glob("*a.jsonl.error.json"))


def test_pid_lock_and_stale_lock(fake_ws: Workspace) -> None:
    from mentor.daemon.lock import PidLock, lock_holder
    from mentor.errors import JobError

    a = PidLock(fake_ws).acquire()
    with pytest.raises(JobError, match="already runs"):
        PidLock(fake_ws).acquire()
    assert lock_holder(fake_ws) == os.getpid()
    a.release()
    # a lock left by a dead process is stale and taken over
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    fake_ws.pid_file.write_text(json.dumps({"pid": p.pid, "started": time.time() - 10}))
    assert lock_holder(fake_ws) is None
    b = PidLock(fake_ws).acquire()
    assert b.stale_taken
    b.release()
    assert not fake_ws.pid_file.exists()


def test_status_snapshot_fields(fake_ws: Workspace) -> None:
    from mentor.monitor.status import FIELDS, StatusWriter, read_status

    now = [0.0]
    w = StatusWriter(fake_ws, clock=lambda: now[0])
    assert w.update(status="training", step=3, loss=2.0, val_loss=2.5)
    assert not w.update(loss=1.5)  # throttled: at most every 2 s
    now[0] = 2.1
    w.update(
        example={
            "step": 3,
            "prompt": "p",
            "golden": "g",
            "model_output": "g",
            "matches": True,
            "loss": 1.0,
        }
    )
    s = json.loads(fake_ws.status_file.read_text())
    assert set(FIELDS) <= set(s)
    assert s["current_step"] == 3 and s["loss"] == 1.5 and s["val_train_gap"] == 1.0
    assert s["total_evals"] == 1 and s["accuracy_percent"] == 100.0
    assert s["recent_examples"][0]["matches"] is True
    assert read_status(fake_ws)["status"] == "training"


def test_queue_cli_and_priorities(fake_ws: Workspace, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mentor.cli import app

    r = CliRunner()
    home = ["--home", str(fake_ws.home)]
    low = write_rows(tmp_path / "low.jsonl", 2, "l")
    high = write_rows(tmp_path / "high.jsonl", 2, "h")
    assert r.invoke(app, [*home, "queue", "add", str(low), "--priority", "low"]).exit_code == 0
    assert r.invoke(app, [*home, "queue", "add", str(high), "--priority", "high"]).exit_code == 0
    res = r.invoke(app, [*home, "queue", "list", "--json"])
    names = [j["name"] for j in json.loads(res.stdout)["jobs"]]
    assert names == ["high.jsonl", "low.jsonl"]
    assert r.invoke(app, [*home, "queue", "move", "2", "--priority", "low"]).exit_code == 0
    assert r.invoke(app, [*home, "queue", "move", "1", "--priority", "high"]).exit_code == 0
    names = [
        j["name"]
        for j in json.loads(r.invoke(app, [*home, "queue", "list", "--json"]).stdout)["jobs"]
    ]
    assert names == ["low.jsonl", "high.jsonl"]
    res = r.invoke(app, [*home, "queue", "remove", "1"])
    assert res.exit_code == 0, res.output
    assert r.invoke(app, [*home, "queue", "retry", "1"]).exit_code == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    res = r.invoke(app, [*home, "queue", "add", str(bad)])
    assert res.exit_code != 0 and list(fake_ws.failed.glob("*bad.jsonl.error.json"))
    res = r.invoke(app, [*home, "status", "--json"])
    s = json.loads(res.stdout)
    assert s["state"] == "stopped" and len(s["queue"]) == 2


def test_versions_restore_delete_keep_backups(fake_ws: Workspace) -> None:
    from mentor.daemon import backups, versions
    from mentor.store import connect

    conn = connect(fake_ws.db)
    fake_ws.current.mkdir(parents=True, exist_ok=True)
    (fake_ws.current / "adapter_config.json").write_text("{}")
    (fake_ws.current / "adapter_model.safetensors").write_bytes(b"one")
    v1 = versions.create(fake_ws, conn, description="first", lineage_dir=fake_ws.current, steps=1)
    (fake_ws.current / "adapter_model.safetensors").write_bytes(b"two")
    v2 = versions.create(fake_ws, conn, description="second", lineage_dir=fake_ws.current, steps=2)
    assert v1.name.startswith("v001_") and v1.name.endswith("_first")
    d = versions.diff(fake_ws, conn, "v1", "v002")
    assert d["files_changed"] == ["adapter/adapter_model.safetensors"] and d["a_is_ancestor"]
    r = versions.restore(fake_ws, conn, "v001")
    assert (fake_ws.current / "adapter_model.safetensors").read_bytes() == b"one"
    b = backups.get(fake_ws, conn, r["backup"])
    assert (b.path / "files" / "current" / "adapter_model.safetensors").read_bytes() == b"two"
    with pytest.raises(Exception, match="serving"):
        versions.delete(fake_ws, conn, "v1")
    rd = versions.delete(fake_ws, conn, v2.short)
    assert not fake_ws.version_dir(v2.name).exists() and not (fake_ws.versions / "v002").exists()
    kept = backups.verify(fake_ws, conn, rd["backup"])
    assert (
        kept.path / "files" / v2.name / "adapter" / "adapter_model.safetensors"
    ).read_bytes() == b"two"
    # the sole copy of a deleted version is never pruned
    _, delete = backups.prune_plan(fake_ws, conn, keep_last=0, keep_daily_days=0)
    assert rd["backup"] not in {x.id for x in delete}
    # tampering is caught
    f = kept.path / "files" / v2.name / "manifest.json"
    f.chmod(0o644)
    f.write_text("{}")
    from mentor.errors import IntegrityError

    with pytest.raises(IntegrityError):
        backups.verify(fake_ws, conn, rd["backup"])
    conn.close()


def test_disk_guard_refuses(fake_ws: Workspace) -> None:
    from mentor.store import connect, events

    d = make_daemon(fake_ws, extra=["daemon.min_free_gib=1000000"])
    d.start()
    try:
        write_rows(fake_ws.inbox / "a.jsonl", 2)
        t0 = time.time()
        while time.time() - t0 < 2:
            d.run_once(time.time())
            time.sleep(0.05)
        assert jobs(fake_ws)[0]["state"] == "queued" and d.child is None
    finally:
        d.close()
    conn = connect(fake_ws.db)
    assert events.recent(conn, kinds=["alert.disk_low"])
    conn.close()


def test_retention_keeps_policy_under_budget(fake_ws: Workspace) -> None:
    from mentor import config as config_mod
    from mentor.daemon import retention, versions
    from mentor.store import connect

    conn = connect(fake_ws.db)
    fake_ws.current.mkdir(parents=True, exist_ok=True)
    (fake_ws.current / "adapter_config.json").write_text("{}")
    for i in range(6):
        (fake_ws.current / "adapter_model.safetensors").write_bytes(b"x" * 1000)
        versions.create(
            fake_ws,
            conn,
            description=f"n{i}",
            lineage_dir=fake_ws.current,
            metrics={"heldout_solved": [0.1, 0.9, 0.2, 0.3, 0.4, 0.5][i]},
            now=1e9 + i,
        )
    cfg = config_mod.load(
        fake_ws.config_file,
        [
            "daemon.keep_last=2",
            "daemon.keep_best=1",
            "daemon.keep_daily_days=0",
            "daemon.disk_budget_gib=1",
        ],
    )
    assert retention.plan(fake_ws, conn, cfg).delete == []  # under budget: nothing deleted
    cfg = config_mod.load(
        fake_ws.config_file,
        [
            "daemon.keep_last=2",
            "daemon.keep_best=1",
            "daemon.keep_daily_days=0",
            "daemon.disk_budget_gib=0.0000001",
        ],
    )
    p = retention.plan(fake_ws, conn, cfg)
    names = {v.short: v.name for v in version_rows.listing(conn)}
    assert p.keep[names["v002"]] == "best" and {names["v005"], names["v006"]} <= set(p.keep)
    assert set(p.delete) == {names["v001"], names["v003"], names["v004"]}
    conn.close()


def test_watchdog_wakes_and_file_is_picked_within_2s_of_settling(tmp_path: Path) -> None:
    """A real filesystem event (not polling) wakes the daemon; the file is taken once settled."""
    import time

    from mentor.daemon.inbox import Inbox

    inbox = Inbox(tmp_path / "inbox", settle_seconds=0.5)
    assert inbox.start_watch()
    try:
        f = tmp_path / "inbox" / "deep" / "x.jsonl"
        f.parent.mkdir(parents=True)
        t0 = time.monotonic()
        f.write_text('{"text": "hello"}\n')
        assert inbox.wake.wait(2.0), "no filesystem event within 2 s"
        seen = time.monotonic()
        assert inbox.settled(seen) == []  # just written: not settled yet
        picked = None
        while picked is None and time.monotonic() - t0 < 5:
            time.sleep(0.1)
            got = inbox.settled(time.monotonic())
            picked = got[0] if got else None
        assert picked == f
        settled_at = f.stat().st_mtime  # unchanged since the write
        print(
            f"event after {seen - t0:.3f} s; taken {time.time() - settled_at - 0.5:.3f} s after settling"
        )
        assert time.time() - settled_at - 0.5 < 2.0
    finally:
        inbox.stop_watch()


def test_daily_snapshot_and_consolidation_schedule_follow_the_injected_clock(
    fake_ws: Workspace,
) -> None:
    """Idle work runs once a day at/after its HH:MM, by the daemon's clock, never twice a day."""
    from mentor.daemon import backups
    from mentor.store import connect, kv

    def at(day: int, hh: int, mm: int) -> float:
        return time.mktime((2026, 11, day, hh, mm, 0, 0, 0, -1))

    now = [at(10, 1, 59)]
    d = make_daemon(
        fake_ws,
        clock=lambda: now[0],
        extra=["daemon.snapshot_at=02:00", "daemon.consolidate_at=03:00"],
    )
    d.start()
    conn = connect(fake_ws.db)
    try:
        snaps = lambda: [b for b in backups.listing(fake_ws, conn) if b.reason == "daily-snapshot"]  # noqa: E731
        d.run_once(now[0])
        assert snaps() == []
        now[0] = at(10, 2, 1)
        d.run_once(now[0])
        assert len(snaps()) == 1
        now[0] = at(10, 23, 0)
        d.run_once(now[0])
        assert len(snaps()) == 1  # once a day
        # consolidation was due at 03:00; with no adapter trained yet there is nothing to merge
        assert kv.get(conn, kv.Key.LAST_CONSOLIDATION_DAY) == "2026-11-10"
        assert d.child is None
        now[0] = at(11, 2, 30)
        d.run_once(now[0])
        assert len(snaps()) == 2
    finally:
        d.request_stop()
        drive(d, lambda: d.child is None)
        d.close()
        conn.close()
