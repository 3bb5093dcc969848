"""What `mentor status` shows (daemon/status.py): the daemon's state, and a request on the
control channel at once, before the daemon has acted on it."""

from __future__ import annotations

import pytest

from mentor.paths import Workspace


@pytest.mark.parametrize(
    ("daemon_state", "running", "action", "shown"),
    [
        ("training", False, None, "stopped"),
        ("training", True, None, "training"),
        ("evaluating", True, "pause", "pausing"),
        ("training", True, "pause", "pausing"),
        ("paused", True, "pause", "paused"),
        ("idle", True, "pause", "idle"),  # nothing to pause yet: the daemon pauses at once
        ("evaluating", True, "stop", "stopping"),
        ("evaluating", True, "skip", "evaluating"),
        (None, True, None, "idle"),
    ],
)
def test_shown_state(daemon_state, running, action, shown) -> None:
    from mentor.daemon.status import shown_state

    request = {"action": action} if action else None
    assert shown_state(daemon_state, running, request) == shown


def test_status_object_shows_a_pending_pause_during_an_evaluation(workspace: Workspace) -> None:
    from mentor import control
    from mentor.daemon.lock import PidLock
    from mentor.daemon.status import Board, status_object
    from mentor.store import connect, jobs

    conn = connect(workspace.db)
    job = jobs.insert(conn, path="x", name="a.jsonl", state="evaluating")
    board = Board(workspace, conn)
    board.set("evaluating", current_file="a.jsonl")
    lock = PidLock(workspace).acquire()  # a daemon runs (this process)
    try:
        s = status_object(workspace)
        assert s["state"] == "evaluating" and s["job"]["id"] == job.id and s["request"] is None
        control.request(workspace, "pause")
        s = status_object(workspace)
        assert s["state"] == "pausing" and s["request"]["action"] == "pause"
        board.set("paused")
        assert status_object(workspace)["state"] == "paused"
    finally:
        lock.release()
        conn.close()
    assert status_object(workspace)["state"] == "stopped"


def test_board_writes_kv_and_snapshot_together(workspace: Workspace) -> None:
    from mentor.daemon.status import Board
    from mentor.monitor.status import read_status
    from mentor.store import connect, kv

    conn = connect(workspace.db)
    board = Board(workspace, conn)
    board.set("training", current_file="a.jsonl")
    assert kv.get(conn, kv.Key.DAEMON_STATE) == "training"
    snap = read_status(workspace)
    assert snap["status"] == "training" and snap["current_file"] == "a.jsonl"
    board.alert("disk guard: low")
    board.alert("other")
    board.clear_alerts("disk guard")
    board.status.flush()
    assert read_status(workspace)["active_alerts"] == ["other"]
    conn.close()
