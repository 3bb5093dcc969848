"""Idle-time work (daemon/idle.py): the daily snapshot and consolidation on the injected
clock, and the full suite of the serving version (eval.full_when_idle): once per serving
version, cut within seconds by a file arriving or a pause, run again later."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from mentor.cli import app
from mentor.paths import Workspace

FULL = ["eval.full_when_idle=true"]


def _log(ws: Workspace, kit) -> list[tuple[str, str, str]]:
    return [(e["what"], e["version"], e["event"]) for e in kit.evals_log(ws)]


def test_daily_snapshot_and_consolidation_schedule_follow_the_injected_clock(
    fake_ws: Workspace, kit
) -> None:
    """Idle work runs once a day at/after its HH:MM, by the daemon's clock, never twice a day."""
    from mentor.daemon import backups
    from mentor.store import connect, kv

    def at(day: int, hh: int, mm: int) -> float:
        return time.mktime((2026, 11, day, hh, mm, 0, 0, 0, -1))

    now = [at(10, 1, 59)]
    d = kit.make_daemon(
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
        kit.drive(d, lambda: d.child is None)
        d.close()
        conn.close()


def test_full_suite_runs_once_per_serving_version_when_idle(fake_ws: Workspace, kit) -> None:
    from mentor.store import connect, events

    d = kit.make_daemon(fake_ws, extra=FULL)
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 3, "a")
        kit.drive(d, lambda: ("full_suite", "v001", "done") in _log(fake_ws, kit))
        for _ in range(10):  # idle again: it is not run twice for v001
            d.run_once(time.time())
            time.sleep(0.05)
        assert d.child is None
        kit.write_rows(fake_ws.inbox / "b.jsonl", 3, "b")
        kit.drive(d, lambda: ("full_suite", "v002", "done") in _log(fake_ws, kit))
    finally:
        d.close()
    fulls = [x for x in _log(fake_ws, kit) if x[0] == "full_suite"]
    assert fulls == [
        ("full_suite", "v001", "started"),
        ("full_suite", "v001", "done"),
        ("full_suite", "v002", "started"),
        ("full_suite", "v002", "done"),
    ]
    conn = connect(fake_ws.db)
    done = events.recent(conn, kinds=["full_suite.done"], version="v001")
    assert len(done) == 1 and done[0].data["metrics"] == {"solved": 0.5}
    conn.close()


def test_full_suite_is_off_when_the_config_says_so(fake_ws: Workspace, kit) -> None:
    d = kit.make_daemon(fake_ws)  # eval.full_when_idle=false
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 2)
        kit.drive(d, lambda: [j["state"] for j in kit.jobs(fake_ws)] == ["done"])
        for _ in range(10):
            d.run_once(time.time())
        assert d.child is None
    finally:
        d.close()
    assert [x[0] for x in _log(fake_ws, kit)] == ["after_training"] * 2  # started, done


def test_a_file_arriving_cuts_the_full_suite(
    fake_ws: Workspace, kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FULL_S", "60")
    d = kit.make_daemon(fake_ws, extra=FULL)
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 3, "a")
        kit.drive(d, lambda: ("full_suite", "v001", "started") in _log(fake_ws, kit))
        assert d.board.state == "evaluating"
        monkeypatch.setenv("FAKE_FULL_S", "0")  # read by the next full suite
        kit.write_rows(fake_ws.inbox / "b.jsonl", 3, "b")
        t0 = time.monotonic()
        kit.drive(d, lambda: ("full_suite", "v001", "cut") in _log(fake_ws, kit), timeout=30)
        cut_after = time.monotonic() - t0
        kit.drive(d, lambda: ("full_suite", "v002", "done") in _log(fake_ws, kit))
    finally:
        d.close()
    # the settle window (0.3 s) + a poll: the suite gave way within seconds, then b trained
    assert cut_after < 5.0, f"the full suite ran on for {cut_after:.1f}s after the file came"
    assert [j["state"] for j in kit.jobs(fake_ws)] == ["done", "done"]
    assert "full_suite.cut" in kit.kinds(fake_ws)
    print(f"\nfull suite cut {cut_after:.2f}s after the file was written")


def test_a_pause_cuts_the_full_suite_and_it_runs_again_after_resume(
    fake_ws: Workspace, kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    home = ["--home", str(fake_ws.home)]
    monkeypatch.setenv("FAKE_FULL_S", "60")
    d = kit.make_daemon(fake_ws, extra=FULL)
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 3, "a")
        kit.drive(d, lambda: ("full_suite", "v001", "started") in _log(fake_ws, kit))
        assert runner.invoke(app, [*home, "pause"]).exit_code == 0
        kit.drive(d, lambda: d.child is None, timeout=30)
        d.run_once(time.time())
        assert d.board.state == "paused"
        assert _log(fake_ws, kit)[-1] == ("full_suite", "v001", "cut")
        monkeypatch.setenv("FAKE_FULL_S", "0")
        assert runner.invoke(app, [*home, "resume"]).exit_code == 0
        kit.drive(d, lambda: ("full_suite", "v001", "done") in _log(fake_ws, kit))
    finally:
        d.close()
    fulls = [x[2] for x in _log(fake_ws, kit) if x[0] == "full_suite"]
    assert fulls == ["started", "cut", "started", "done"]
