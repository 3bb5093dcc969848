"""`mentor pause|resume|skip|stop|status` in-process, without a running daemon: a pause is kept
for the next daemon, resume puts paused jobs back in the queue, status says stopped."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mentor.cli import app
from mentor.paths import Workspace


def test_controls_without_a_daemon(workspace: Workspace) -> None:
    from mentor import control
    from mentor.store import connect, jobs

    r = CliRunner()
    home = ["--home", str(workspace.home)]
    res = r.invoke(app, [*home, "pause"])
    assert res.exit_code == 0 and "it starts paused" in res.stdout
    assert control.action(workspace) == "pause"
    s = json.loads(r.invoke(app, [*home, "status", "--json"]).stdout)
    assert s["state"] == "stopped" and s["request"]["action"] == "pause" and s["pid"] is None

    conn = connect(workspace.db)
    job = jobs.insert(conn, path="x.jsonl", name="x.jsonl", state="paused")
    conn.close()
    res = r.invoke(app, [*home, "resume"])
    assert res.exit_code == 0 and control.action(workspace) is None
    conn = connect(workspace.db)
    assert jobs.get(conn, job.id).state == "queued"
    conn.close()

    res = r.invoke(app, [*home, "skip", "--reason", "later"])
    assert res.exit_code == 0 and control.read(workspace)["reason"] == "later"
    res = r.invoke(app, [*home, "stop"])
    assert res.exit_code == 0 and "not running" in res.stdout
    res = r.invoke(app, [*home, "status"])
    assert res.exit_code == 0 and "stopped" in res.stdout and "skip" in res.stdout
