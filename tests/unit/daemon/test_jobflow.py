"""The job state machine (daemon/jobflow.py) through the real daemon loop and child process,
with stand-in training and evaluation: files to versions, pause/resume, skip, and a pause
during an evaluation (defect 7)."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from mentor.cli import app
from mentor.paths import Workspace
from mentor.store import versions as version_rows


def test_three_files_one_bad_versions_evaluated_and_done(fake_ws: Workspace, kit) -> None:
    d = kit.make_daemon(fake_ws)
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 4, "a")
        (fake_ws.inbox / "bad.jsonl").write_text(json.dumps(kit.ROW) + "\n{not json\n")
        kit.write_rows(fake_ws.inbox / "c.jsonl", 3, "c")
        kit.drive(
            d,
            lambda: (
                len(kit.jobs(fake_ws)) == 3
                and all(j["state"] in ("done", "failed") for j in kit.jobs(fake_ws))
            ),
        )
    finally:
        d.close()
    states = {j["name"]: j["state"] for j in kit.jobs(fake_ws)}
    assert states == {"a.jsonl": "done", "bad.jsonl": "failed", "c.jsonl": "done"}
    err = list(fake_ws.failed.glob("*bad.jsonl.error.json"))
    assert err, list(fake_ws.failed.iterdir())
    reasons = json.loads(err[0].read_text())["reasons"]
    assert any("bad.jsonl:2" in r for r in reasons), reasons
    assert len(list(fake_ws.done.glob("*_a.jsonl"))) == 1
    from mentor.daemon import versions
    from mentor.store import connect, events, kv

    conn = connect(fake_ws.db)
    vs = version_rows.listing(conn)
    assert [v.short for v in vs] == ["v001", "v002"]
    assert [v.status for v in vs] == ["retired", "serving"]  # each evaluated and promoted
    assert vs[1].metrics["heldout.solved"] == 1.0
    assert kv.get(conn, kv.Key.SERVING_VERSION) == "v002"
    assert (fake_ws.versions / "v001").is_symlink()
    versions.verify(fake_ws, conn, "v1")
    man = versions.manifest(fake_ws, vs[1])
    assert man["parent"] == vs[0].name and man["data"][0]["file"] in ("a.jsonl", "c.jsonl")
    kinds = {e.kind for e in events.recent(conn, limit=200)}
    assert {"validation_rejected", "job_started", "job_evaluating", "job_finished"} <= kinds
    assert {"version_created", "version_promoted"} <= kinds
    conn.close()
    assert [e["event"] for e in kit.evals_log(fake_ws)] == ["started", "done"] * 2
    assert sorted(kit.ledger(fake_ws)) == sorted(set(kit.ledger(fake_ws)))  # every row once


def test_pause_resume_keeps_position(
    fake_ws: Workspace, kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mentor import control

    monkeypatch.setenv("FAKE_STEP_S", "0.1")
    d = kit.make_daemon(fake_ws)
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 30)
        kit.drive(d, lambda: len(kit.ledger(fake_ws)) >= 3)
        control.request(fake_ws, "pause")
        kit.drive(d, lambda: kit.jobs(fake_ws)[0]["state"] == "paused")
        done_at_pause = kit.jobs(fake_ws)[0]["rows_done"]
        assert 3 <= done_at_pause < 30
        for _ in range(5):
            d.run_once(time.time())
        assert d.child is None and kit.jobs(fake_ws)[0]["state"] == "paused"  # the daemon idles
        assert d.board.state == "paused"
        control.request(fake_ws, "resume")
        kit.drive(d, lambda: kit.jobs(fake_ws)[0]["state"] == "done")
    finally:
        d.close()
    rows = [r for _, r in kit.ledger(fake_ws)]
    assert sorted(rows) == list(range(30))  # every row exactly once


def test_skip_records_remaining_rows(fake_ws: Workspace, kit) -> None:
    from mentor import control

    d = kit.make_daemon(fake_ws)
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 200, "a")
        kit.drive(d, lambda: len(kit.ledger(fake_ws)) >= 2)
        kit.write_rows(fake_ws.inbox / "b.jsonl", 2, "b")
        control.request(fake_ws, "skip", "not needed")
        kit.drive(d, lambda: [j["state"] for j in kit.jobs(fake_ws)] == ["skipped", "done"])
    finally:
        d.close()
    a = kit.jobs(fake_ws)[0]
    note = json.loads(next(fake_ws.done.glob("*_a.jsonl.json")).read_text())
    assert note["skipped"] and note["remaining_rows"] == 200 - a["rows_done"] > 0
    assert note["reason"] == "not needed"


def _status(ws: Workspace) -> dict:
    res = CliRunner().invoke(app, ["--home", str(ws.home), "status", "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_pause_during_evaluation_shows_pausing_cuts_it_and_resume_evaluates_again(
    fake_ws: Workspace, kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect 7: `mentor pause` while a version is evaluated (a minute of generation here)."""
    monkeypatch.setenv("FAKE_EVAL_S", "60")
    runner = CliRunner()
    home = ["--home", str(fake_ws.home)]
    d = kit.make_daemon(fake_ws)
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 3)
        kit.drive(d, lambda: [e["event"] for e in kit.evals_log(fake_ws)] == ["started"])
        assert _status(fake_ws)["state"] == "evaluating"
        assert runner.invoke(app, [*home, "pause"]).exit_code == 0
        t0 = time.monotonic()
        s = _status(fake_ws)  # before the daemon's next pass: the request shows at once
        assert s["state"] == "pausing" and s["request"]["action"] == "pause"
        kit.drive(d, lambda: d.child is None, timeout=30)
        cut_after = time.monotonic() - t0
        assert cut_after < 5.0, f"the evaluation ran on for {cut_after:.1f}s after the pause"
        d.run_once(time.time())
        assert [e["event"] for e in kit.evals_log(fake_ws)] == ["started", "cut"]
        assert kit.jobs(fake_ws)[0]["state"] == "evaluating"  # keeps its phase: evaluated again
        assert _status(fake_ws)["state"] == "paused"
        for _ in range(5):  # paused: nothing starts
            d.run_once(time.time())
        assert d.child is None
        monkeypatch.setenv("FAKE_EVAL_S", "0")  # read by the next child
        assert runner.invoke(app, [*home, "resume"]).exit_code == 0
        kit.drive(d, lambda: kit.jobs(fake_ws)[0]["state"] == "done")
    finally:
        d.close()
    assert [e["event"] for e in kit.evals_log(fake_ws)] == ["started", "cut", "started", "done"]
    assert "eval_interrupted" in kit.kinds(fake_ws)
    from mentor.store import connect

    conn = connect(fake_ws.db)
    assert version_rows.resolve(conn, "v001").status == "serving"
    conn.close()
    print(f"\nevaluation cut {cut_after:.2f}s after `mentor pause`")
