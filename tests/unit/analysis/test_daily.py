"""The daily report from a seeded state.db, and both notifications received by local servers."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from email import message_from_bytes
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from helpers.analysis_seed import add_eval, add_run, add_version
from mentor import config as config_mod
from mentor.analysis.daily import daily_data, window, write_daily_report
from mentor.store import connect
from mentor.store.events import emit

DAY = dt.date(2026, 3, 10)
BENCH = {"easy": "syllo_easy_100", "medium": "syllo_medium_100", "hard": "syllo_hard_100"}


def _solved(share: float, n: int = 10) -> list[float]:
    k = round(share * n)
    return [1.0] * k + [0.0] * (n - k)


def _evals(ws, version, accuracy, at, *, baseline=False):
    for tier, share in accuracy.items():
        add_eval(
            ws,
            version=version,
            benchmark=BENCH[tier],
            tier=tier,
            solved=_solved(share),
            created_at=at,
            baseline=baseline,
            seconds=60,
        )


def _overfit_records(start_ts: float) -> list[dict]:
    """Training loss falls 2.0 -> 1.0 over steps 110-400; validation is lowest at step 200."""
    recs = [
        {
            "step": s,
            "loss": 2.0 - (s - 110) / 290 + 0.01 * ((s // 10) % 2),
            "lr": 2e-4,
            "sys_gpu_util_percent": 80.0 if s < 250 else 90.0,
            "ts": start_ts + s,
        }
        for s in range(110, 401, 10)
    ]
    for s, v in zip(range(150, 401, 50), (1.5, 1.4, 1.45, 1.5, 1.56, 1.62), strict=True):
        next(r for r in recs if r["step"] == s)["val_loss"] = v
    return recs


@pytest.fixture()
def day_ws(ws):
    """Yesterday: b.jsonl -> v001. Today: a.jsonl -> v002 (better, overfitting run), and
    c.jsonl -> v003 (worse, refused by the gate)."""
    since, _ = window(DAY)
    y = since - 12 * 3600
    _evals(ws, None, {"easy": 0.3, "medium": 0.2, "hard": 0.1}, y - 100, baseline=True)
    add_run(
        ws,
        "run-b",
        file="b.jsonl",
        started=y,
        seconds=1800,
        step_start=0,
        step_end=100,
        device="cpu",
        rows=500,
        loss=1.8,
    )
    add_version(
        ws,
        file="b.jsonl",
        rows=500,
        run_id="run-b",
        steps=100,
        now=y + 1900,
        metrics={"quick.solved": 0.30, "quick.delta.solved": 0.10},
    )
    _evals(ws, "v001", {"easy": 0.6, "medium": 0.4, "hard": 0.1}, y + 2000)
    t = since + 9 * 3600
    add_run(
        ws,
        "run-a",
        file="a.jsonl",
        started=t,
        seconds=3600,
        step_start=100,
        step_end=400,
        rows=2000,
        loss=1.0,
        records=_overfit_records(t),
    )
    add_version(
        ws,
        file="a.jsonl",
        rows=2000,
        run_id="run-a",
        steps=400,
        now=t + 3700,
        metrics={"quick.solved": 0.36, "quick.delta.solved": 0.16},
    )
    _evals(ws, "v002", {"easy": 0.8, "medium": 0.6, "hard": 0.1}, t + 3800)
    add_run(
        ws,
        "run-c",
        file="c.jsonl",
        started=t + 4000,
        seconds=600,
        step_start=400,
        step_end=450,
        rows=300,
        loss=1.1,
    )
    add_version(
        ws,
        file="c.jsonl",
        rows=300,
        run_id="run-c",
        steps=450,
        now=t + 4700,
        metrics={"quick.solved": 0.33, "quick.delta.solved": 0.13},
        status="refused",
    )
    conn = connect(ws.db)
    emit(
        conn,
        "gate.refused",
        "v003: solved dropped 0.36 -> 0.33 (p=0.01)",
        level="warning",
        version="v003",
        ts=t + 4800,
    )
    emit(conn, "job_failed", "d.jsonl: not valid JSON", level="error", ts=t + 5000)
    conn.close()
    cfg = config_mod.load(ws.config_file)
    cfg.cost.gpu_price_per_hour = 2.0
    return ws, cfg


def test_daily_report_from_state_db(day_ws):
    ws, cfg = day_ws
    d = daily_data(ws, cfg, DAY)
    t = d["training"]
    assert [r["run"] for r in t["runs"]] == ["run-a", "run-c"]
    assert t["files"] == ["a.jsonl", "c.jsonl"]
    assert (t["rows"], t["steps"], t["final_loss"], t["seconds"]) == (2300, 350, 1.1, 4200)
    # average GPU utilisation, weighted by run time (run-c has no GPU figures)
    assert t["gpu_util"] == pytest.approx((80 * 14 + 90 * 16) / 30)
    assert d["best_today"] == {"version": "v002", "value": 0.36, "step": 400}
    now, change = d["tiers"]["now"], d["tiers"]["change"]
    assert now["version"] == "v002"
    assert now["tiers"] == {"easy": 0.8, "hard": 0.1, "medium": 0.6}
    assert change == pytest.approx({"easy": 0.2, "hard": 0.0, "medium": 0.2})
    assert now["gain"] == pytest.approx({"easy": 0.5, "hard": 0.0, "medium": 0.4})
    assert d["cost"]["total_cost"] == pytest.approx(2.0 * (1.0 + 600 / 3600 + 180 / 3600))
    assert [r["version"] for r in d["roi"]] == ["v002", "v003"]
    recs = d["recommendations"]
    assert any(
        r.startswith("The hard tier lags: +0.000") and "more hard examples" in r for r in recs
    )
    assert any(r.startswith("Overfitting in run run-a: stop at step 200") for r in recs)
    assert any(r.startswith("Regression: v003 (trained on c.jsonl) was refused") for r in recs)
    assert not any(r.startswith("Still improving") for r in recs)  # v003 fell back


def test_still_improving_asks_for_more_data(day_ws):
    ws, cfg = day_ws
    d = daily_data(ws, cfg, DAY - dt.timedelta(days=1))  # yesterday: v001 only, no run today
    assert d["training"]["runs"][0]["run"] == "run-b"
    conn = connect(ws.db)
    conn.execute("DELETE FROM versions WHERE name LIKE 'v003%'")
    conn.close()
    d = daily_data(ws, cfg, DAY)
    assert (
        d["recommendations"][0]
        == "Still improving (quick.solved rose +0.060 with v002): give it more data."
    )


def test_written_files(day_ws):
    ws, cfg = day_ws
    report = write_daily_report(ws, cfg, DAY, notify=False)
    assert report.markdown == ws.reports / "daily" / "2026-03-10.md"
    md = report.markdown.read_text()
    assert "- files trained: 2 (a.jsonl, c.jsonl)" in md
    assert "| hard | 10 | 0.100 | +0.000 | +0.000 |" in md
    assert "- 💡 Overfitting in run run-a: stop at step 200 next time." in md
    assert "- ❌ d.jsonl: not valid JSON" in md
    html = report.html.read_text()
    assert "plotly" in html and "<script" in html and "<script src=" not in html  # inlined
    assert json.loads(report.json.read_text())["date"] == "2026-03-10"


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webhook_and_mail_are_received(day_ws):
    from aiosmtpd.controller import Controller

    ws, cfg = day_ws
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    class Inbox:
        mails: ClassVar[list] = []

        async def handle_DATA(self, server, session, envelope):
            Inbox.mails.append(envelope)
            return "250 OK"

    smtp = Controller(Inbox(), hostname="127.0.0.1", port=_free_port())
    smtp.start()
    try:
        cfg.report.webhook = f"http://127.0.0.1:{server.server_port}/hook"
        s = cfg.report.smtp
        s.host, s.port, s.starttls = "127.0.0.1", smtp.port, False
        s.sender, s.to = "mentor@example.org", ["team@example.org", "lead@example.org"]
        report = write_daily_report(ws, cfg, DAY)
    finally:
        smtp.stop()
        server.shutdown()
    assert report.deliveries == {"webhook": "sent (200)", "smtp": "sent to 2 recipient(s)"}
    ctype, payload = _Hook.received[-1]
    assert ctype == "application/json"
    assert payload["text"].startswith("*mentor daily report 2026-03-10*")
    assert "💡 Overfitting in run run-a" in payload["text"]
    assert payload["report"]["files"] == ["a.jsonl", "c.jsonl"]
    mail = Inbox.mails[-1]
    assert mail.mail_from == "mentor@example.org"
    assert mail.rcpt_tos == ["team@example.org", "lead@example.org"]
    msg = message_from_bytes(mail.content, policy=email_policy)
    assert msg["Subject"] == "mentor daily report 2026-03-10"
    assert "# mentor daily report 2026-03-10" in msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Recommendations" in html and "plotly" not in html  # no 4 MB of script in a mail


def test_a_failed_notification_keeps_the_report(day_ws):
    ws, cfg = day_ws
    cfg.report.webhook = f"http://127.0.0.1:{_free_port()}/nobody-listens"
    report = write_daily_report(ws, cfg, DAY)
    assert report.deliveries["webhook"].startswith("error:")
    assert report.markdown.is_file()
