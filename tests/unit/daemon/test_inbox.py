"""The inbox (daemon/inbox.py): a real filesystem event wakes the daemon; a file is taken once
its size and mtime held still for the settle window."""

from __future__ import annotations

import time
from pathlib import Path


def test_watchdog_wakes_and_file_is_picked_within_2s_of_settling(tmp_path: Path) -> None:
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


def test_hidden_and_partial_names_are_ignored(tmp_path: Path) -> None:
    from mentor.daemon.inbox import Inbox

    inbox = Inbox(tmp_path, settle_seconds=0)
    for name in (".x.jsonl", "y.jsonl.part", ".hidden/z.jsonl", "ok.jsonl", "sub/ok2.jsonl"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}\n")
    assert [inbox.rel(p) for p in inbox.settled(0.0)] == ["ok.jsonl", "sub/ok2.jsonl"]
