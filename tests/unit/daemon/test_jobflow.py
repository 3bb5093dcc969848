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


def test_skip_at_the_last_step_finishes_the_file(
    fake_ws: Workspace, kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A skip that arrives while the last row trains: a version is made, every row is in the
    ledger, the job is done, and no "0 rows not trained" message appears."""
    from mentor.store import connect, events

    monkeypatch.setenv("FAKE_REQUEST_AT_ROW", "3:skip")
    d = kit.make_daemon(fake_ws)
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 3)
        kit.drive(d, lambda: [j["state"] for j in kit.jobs(fake_ws)] in (["done"], ["skipped"]))
    finally:
        d.close()
    (job,) = kit.jobs(fake_ws)
    assert job["state"] == "done", job["error"]
    assert job["version"] and job["version"].startswith("v001") and job["rows_done"] == 3
    assert sorted(r for _, r in kit.ledger(fake_ws)) == [0, 1, 2]
    conn = connect(fake_ws.db)
    msgs = [e.message for e in events.recent(conn, limit=200)]
    conn.close()
    assert not any("not trained" in m for m in msgs)
    assert "skip_at_end" in kit.kinds(fake_ws) and "job_skipped" not in kit.kinds(fake_ws)
    assert not fake_ws.control_file.exists()


def test_rows_follow_training_and_stop_leaves_training(
    fake_ws: Workspace, kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`queue list` shows the row position while the file trains (one denominator); after a
    stop the job is queued again with its row, not `training`; the next start finishes it."""
    from mentor import control

    monkeypatch.setenv("FAKE_STEP_S", "0.03")
    d = kit.make_daemon(fake_ws)
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 100)
        kit.drive(d, lambda: (kit.jobs(fake_ws) or [{"rows_done": 0}])[0]["rows_done"] >= 3)
        job = kit.jobs(fake_ws)[0]
        assert job["state"] == "training" and job["rows_total"] == 100
        control.request(fake_ws, "stop")
        kit.drive(d, lambda: d.child is None)
    finally:
        d.close()
    job = kit.jobs(fake_ws)[0]
    assert job["state"] == "queued" and 3 <= job["rows_done"] < 100
    d = kit.make_daemon(fake_ws)
    d.start()
    try:
        kit.drive(d, lambda: kit.jobs(fake_ws)[0]["state"] == "done")
    finally:
        d.close()
    assert sorted(r for _, r in kit.ledger(fake_ws)) == list(range(100))


def test_evaluation_progress_in_status_cli_and_daemon_log(
    fake_ws: Workspace, kit, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """While a version is evaluated: items done/total and an ETA in `status --json`, the
    status file, the `status` table and the daemon's log."""
    import logging

    from mentor.monitor.status import read_status

    monkeypatch.setenv("FAKE_EVAL_S", "4")
    monkeypatch.setenv("FAKE_EVAL_ITEMS", "40")
    d = kit.make_daemon(fake_ws, extra=["daemon.progress_log_seconds=0"])
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 2)
        with caplog.at_level(logging.INFO, logger="mentor.daemon.service"):
            kit.drive(
                d,
                lambda: (
                    ((read_status(fake_ws).get("evaluation") or {}).get("items_done") or 0) >= 10
                ),
            )
            d.run_once(time.time())
            s = _status(fake_ws)
            text = CliRunner().invoke(app, ["--home", str(fake_ws.home), "status"]).stdout
        ev = s["evaluation"]
        assert s["state"] == "evaluating" and ev["kind"] == "quick" and ev["items_total"] == 40
        assert 10 <= ev["items_done"] < 40 and ev["eta_s"] > 0 and s["eta_s"] == ev["eta_s"]
        assert "/40 items (" in text and "ETA" in text
        logged = [r.getMessage() for r in caplog.records if "items" in r.getMessage()]
        assert any(
            m.startswith("evaluating v001 (quick): ") and "/40 items, ETA" in m for m in logged
        )
        kit.drive(d, lambda: kit.jobs(fake_ws)[0]["state"] == "done")
    finally:
        d.close()


def test_a_full_disk_pauses_the_daemon_with_an_alert_and_resume_trains_on(
    fake_ws: Workspace, kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: ENOSPC under training is not a failed attempt to retry: the daemon pauses with
    an alert, the job keeps its last checkpoint, and after `resume` every row trains once."""
    from mentor.store import connect, events

    monkeypatch.setenv("FAKE_DISK_FULL_AT_ROW", "2")
    d = kit.make_daemon(fake_ws)
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 4)
        kit.drive(d, lambda: [j["state"] for j in kit.jobs(fake_ws)] == ["paused"])
        (job,) = kit.jobs(fake_ws)
        assert job["attempts"] == 0 and "No space left" in job["error"]
        assert d.paused and "disk_full" in kit.kinds(fake_ws)
        from mentor.monitor.status import read_status

        status = read_status(fake_ws)
        assert status["status"] == "paused"
        assert any("disk is full" in a for a in status["active_alerts"])
        assert sorted(r for _, r in kit.ledger(fake_ws)) == [0, 1]
        monkeypatch.delenv("FAKE_DISK_FULL_AT_ROW")  # space freed; read by the next child
        from mentor import control

        control.request(fake_ws, "resume")
        kit.drive(d, lambda: [j["state"] for j in kit.jobs(fake_ws)] == ["done"])
    finally:
        d.close()
    assert sorted(r for _, r in kit.ledger(fake_ws)) == [0, 1, 2, 3]
    conn = connect(fake_ws.db)
    assert not [e for e in events.recent(conn, limit=200) if e.kind == "job_retry"]
    conn.close()
