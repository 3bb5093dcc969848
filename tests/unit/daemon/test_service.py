"""The service loop (daemon/service.py): the settle window on the injected clock, the disk
guard, and a stop during an evaluation."""

from __future__ import annotations

import time

import pytest

from mentor.paths import Workspace


def test_settle_and_injected_clock(fake_ws: Workspace, kit) -> None:
    """A file is taken only once size+mtime held still settle_seconds of the daemon's clock."""
    now = [1000.0]
    d = kit.make_daemon(fake_ws, clock=lambda: now[0], extra=["daemon.settle_seconds=5"])
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "sub" / "a.jsonl", 3)
        d.run_once(now[0])
        assert kit.jobs(fake_ws) == []
        now[0] += 4.9
        d.run_once(now[0])
        assert kit.jobs(fake_ws) == []
        now[0] += 0.2
        d.run_once(now[0])
        (job,) = kit.jobs(fake_ws)
        assert job["name"] == "sub/a.jsonl"
        assert job["state"] in ("queued", "training")
        assert not (fake_ws.inbox / "sub" / "a.jsonl").exists()  # moved out: never taken twice
    finally:
        d.request_stop()
        kit.drive(d, lambda: d.child is None)
        d.close()


def test_disk_guard_refuses(fake_ws: Workspace, kit) -> None:
    from mentor.store import connect, events

    d = kit.make_daemon(fake_ws, extra=["daemon.min_free_gib=1000000"])
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 2)
        t0 = time.time()
        while time.time() - t0 < 2:
            d.run_once(time.time())
            time.sleep(0.05)
        assert kit.jobs(fake_ws)[0]["state"] == "queued" and d.child is None
        assert d.board.state == "blocked"
    finally:
        d.close()
    conn = connect(fake_ws.db)
    assert events.recent(conn, kinds=["alert.disk_low"])
    conn.close()


def test_stop_during_evaluation_cuts_it_and_the_next_start_evaluates_again(
    fake_ws: Workspace, kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mentor stop` (SIGTERM alike) while a version is evaluated: the daemon exits within
    seconds, not after the evaluation; the job keeps its phase and is evaluated on restart."""
    from mentor import control

    monkeypatch.setenv("FAKE_EVAL_S", "60")
    d = kit.make_daemon(fake_ws)
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 3)
        kit.drive(d, lambda: [e["event"] for e in kit.evals_log(fake_ws)] == ["started"])
        control.request(fake_ws, "stop", "mentor stop")
        t0 = time.monotonic()
        d.run_once(time.time())
        assert d.stopping and d.board.state == "stopping"
        kit.drive(d, lambda: d.child is None, timeout=30)
        stopped_after = time.monotonic() - t0
    finally:
        d.close()
    assert stopped_after < 5.0, f"the evaluation ran on for {stopped_after:.1f}s after the stop"
    assert [e["event"] for e in kit.evals_log(fake_ws)] == ["started", "cut"]
    assert kit.jobs(fake_ws)[0]["state"] == "evaluating"

    monkeypatch.setenv("FAKE_EVAL_S", "0")
    d = kit.make_daemon(fake_ws)
    d.start()
    try:
        kit.drive(d, lambda: kit.jobs(fake_ws)[0]["state"] == "done")
    finally:
        d.close()
    assert [e["event"] for e in kit.evals_log(fake_ws)] == ["started", "cut", "started", "done"]
    assert kit.jobs(fake_ws)[0]["version"].startswith("v001_")
