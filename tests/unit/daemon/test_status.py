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


@pytest.mark.parametrize(
    ("daemon_state", "job_state", "shown"),
    [
        ("idle", "validating", "validating"),  # validation runs in the daemon's own loop
        ("idle", "training", "training"),
        ("paused", "training", "paused"),
        ("blocked", "training", "blocked"),
        ("evaluating", None, "evaluating"),  # the idle-time full suite has no job
    ],
)
def test_shown_state_follows_the_queue(daemon_state, job_state, shown) -> None:
    from mentor.daemon.status import shown_state

    assert shown_state(daemon_state, True, None, job_state) == shown


def test_status_and_queue_list_agree_and_figures_are_readable(workspace: Workspace) -> None:
    """`status` names the state `queue list` shows; tokens/s with thousands separators; the
    ETA in `status --json` is the one the dashboard's data carries."""
    import json

    from typer.testing import CliRunner

    from mentor.cli import app
    from mentor.daemon.lock import PidLock
    from mentor.daemon.status import Board
    from mentor.serve.dashboard.views.overview import eta
    from mentor.store import connect, jobs

    conn = connect(workspace.db)
    jobs.insert(conn, path="x", name="a.jsonl", state="validating")
    Board(workspace, conn).set("idle")
    lock = PidLock(workspace).acquire()
    runner = CliRunner()
    home = ["--home", str(workspace.home)]
    try:
        s = json.loads(runner.invoke(app, [*home, "status", "--json"]).stdout)
        q = json.loads(runner.invoke(app, [*home, "queue", "list", "--json"]).stdout)
        assert s["state"] == "validating" == q["jobs"][0]["state"]
        Board(workspace, conn).set(
            "training", tokens_per_sec=12345.6, eta_s=150.0, file_step=3, file_steps=10
        )
        Board(workspace, conn).status.flush()
        text = runner.invoke(app, [*home, "status"]).stdout
        assert "12,346" in text and "e+04" not in text and "2.5 min" in text
        s = json.loads(runner.invoke(app, [*home, "status", "--json"]).stdout)
        dash = eta(s["snapshot"], records=[])
        assert s["eta_s"] == dash["eta_s"] == dash["file"]["eta_s"] == 150.0
    finally:
        lock.release()
        conn.close()
