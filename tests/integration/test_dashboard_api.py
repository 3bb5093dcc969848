"""The dashboard's JSON endpoints, pages, static files and path-traversal refusals (TestClient)."""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mentor import config as config_mod
from mentor.paths import Workspace, atomic_write_json
from mentor.store import connect, events, jobs
from mentor.store import evals as store_evals
from mentor.store import versions as version_rows

RUN = "20260101-000000-abc"


def probe_rows(n: int = 3) -> list[dict[str, Any]]:
    golden = '{"solutions": [{"ans_num": 1, "answer": "CAT"}]}'
    return [
        {"id": f"p{i}", "tier": "easy", "prompt": f"SYLLO Puzzle p{i}", "golden": golden}
        for i in range(n)
    ]


def write_preview(rd: Path, step: int, *, evolution: bool, variant: int = 0) -> dict[str, Any]:
    examples = []
    for i, p in enumerate(probe_rows()):
        ok = (i + variant + step // 10) % 2 == 0
        out = (
            p["golden"]
            if ok
            else '{"solutions": [{"ans_num": 1, "answer": "DOG' + str(step) + '"}]}'
        )
        examples.append(
            {
                **p,
                "model_output": out,
                "scores": {"solved": float(ok), "json_valid": 1.0},
                "matches": ok,
                "loss": 2.0 / (1 + step / 10),
                "new_tokens": 20,
                "finish_reason": "stop",
            }
        )
    solved = sum(e["matches"] for e in examples)
    rec = {
        "step": step,
        "ts": time.time(),
        "headline": "solved",
        "scores": {"solved": solved / 3},
        "solved": solved,
        "n": 3,
        "solved_share": solved / 3,
        "loss": 2.0 / (1 + step / 10),
        "seconds": 0.5,
        "adapters": "on",
        "examples": examples,
    }
    with open(rd / "previews.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
    if evolution:
        keys = ("id", "tier", "prompt", "golden", "model_output", "scores", "matches", "loss")
        snap = {k: rec[k] for k in ("step", "ts", "headline", "scores", "solved_share", "loss")}
        snap["probes"] = [{k: e[k] for k in keys} for e in examples]
        atomic_write_json(rd / "evolution" / f"step_{step}.json", snap)
    return rec


def metric_record(step: int) -> dict[str, Any]:
    return {
        "step": step,
        "ts": time.time(),
        "loss": 3.0 * math.exp(-step / 50) + 0.5,
        "val_loss": (3.0 * math.exp(-step / 50) + 0.7) if step % 10 == 0 else None,
        "lr": 2e-4 * min(1.0, step / 10),
        "grad_norm": 1.0,
        "tokens_per_s": 1000.0 + step,
        "padding_share": 0.02,
        "mem_gib": 1.5,
        "sys_rss_gib": 1.2,
    }


def fill_workspace(ws: Workspace, steps: int = 30) -> Path:
    rd = ws.run_dir(RUN)
    (rd / "evolution").mkdir(parents=True, exist_ok=True)
    with open(rd / "metrics.jsonl", "w", encoding="utf-8") as f:
        for s in range(1, steps + 1):
            f.write(json.dumps(metric_record(s)) + "\n")
    for s in (0, 10, 20, 25, 30):
        write_preview(rd, s, evolution=s in (0, 10, 25))
    atomic_write_json(
        ws.status_file,
        {
            "status": "training",
            "current_step": steps,
            "total_steps": 100,
            "loss": 0.9,
            "learning_rate": 2e-4,
            "current_file": "inbox/a.jsonl",
            "batch_step": 5,
            "batch_total_steps": 20,
            "tokens_per_sec": 1030.0,
            "validation_loss": 1.1,
            "recent_examples": [],
            "total_evals": 6,
            "total_correct": 3,
            "accuracy_percent": 50.0,
            "active_alerts": [],
            "timestamp": time.time(),
        },
    )
    conn = connect(ws.db)
    events.emit(conn, "alert", "GPU 0 at 91 °C", level="critical", alert="gpu_temperature")
    events.emit(conn, "preview", "step 30: solved 2/3", step=30)
    now = time.time()
    jobs.insert(conn, path="inbox/a.jsonl", name="a.jsonl", state="training", now=now)
    jobs.update(conn, 1, rows_total=100, rows_done=40)
    jobs.insert(conn, path="inbox/c.jsonl", name="c.jsonl", state="done", now=now)
    jobs.insert(conn, path="inbox/b.jsonl", name="b.jsonl", state="queued", now=now)
    jobs.insert(conn, path="inbox/d.jsonl", name="d.jsonl", state="removed", now=now)
    version_rows.insert(
        conn,
        name="v001_20260101_first",
        created_at=now,
        parent=None,
        lineage_id=None,
        kind="adapter",
        description="first file",
        metrics={"solved": 0.4},
    )
    version_rows.set_metrics(conn, "v001", {}, status="serving")
    for version, value, baseline in (
        (None, 0.1, True),
        ("v001", 0.3, False),
        ("v002", 0.45, False),
    ):
        store_evals.insert_eval(
            conn,
            model_ref="base" if baseline else version,
            model_hash="h",
            benchmark="syllo_easy_100",
            bench_version="v1",
            version=version,
            is_baseline=baseline,
            metrics={"overall": {"solved": value}, "tiers": {"easy": {"solved": value}}},
        )
    conn.close()
    (ws.reports / "daily-2026-01-01.md").write_text("# Daily report\nall good\n")
    (ws.reports / "daily-2026-01-01.html").write_text("<html><body><h1>report</h1></body></html>")
    return rd


@pytest.fixture()
def dash(workspace: Workspace) -> tuple[TestClient, Workspace]:
    from mentor.serve.dashboard import create_dashboard_app

    fill_workspace(workspace)
    cfg = config_mod.load(workspace.config_file)
    return TestClient(create_dashboard_app(workspace, cfg)), workspace


def test_json_endpoints(dash: tuple[TestClient, Workspace]) -> None:
    c, _ = dash
    o = c.get("/api/dash/overview").json()
    assert o["run"] == RUN and o["status"]["status"] == "training"
    assert o["progress"]["total"]["share"] == pytest.approx(0.3)
    assert o["progress"]["steps_per_s"] is not None and "eta_s" in o["progress"]["total"]
    assert [j["name"] for j in o["queue"]] == ["a.jsonl", "b.jsonl"]
    assert o["alerts"][0]["kind"] == "gpu_temperature"
    assert isinstance(o["system"]["gpus"], list) and o["system"]["disk_free_gib"] > 0
    m = c.get("/api/dash/metrics").json()
    assert len(m["records"]) == 30 and m["records"][-1]["step"] == 30
    assert len(c.get("/api/dash/metrics", params={"since": 25}).json()["records"]) == 5
    lv = c.get("/api/dash/live").json()
    assert lv["latest"]["step"] == 30 and len(lv["latest"]["examples"]) == 3
    assert [t["step"] for t in lv["trend"]] == [0, 10, 20, 25, 30]
    assert lv["evals"] and lv["evals"][0]["headline"]["metric"] == "solved"
    ev = c.get("/api/dash/evolution").json()
    assert ev["steps"] == [0, 10, 25] and len(ev["probes"]) == 3
    assert [t["step"] for t in ev["probes"][0]["timeline"]] == [0, 10, 25]
    df = c.get("/api/dash/evolution/diff", params={"probe": "p1", "a": 0, "b": 10}).json()
    assert df["a"] == 0 and df["b"] == 10 and any(op["op"] != "equal" for op in df["ops"])
    assert "".join(op["b"] for op in df["ops"]) == ev["probes"][1]["timeline"][1]["output"]
    assert (
        c.get("/api/dash/evolution/diff", params={"probe": "nope", "a": 0, "b": 10}).status_code
        == 404
    )
    e = c.get("/api/dash/evals").json()["benchmarks"][0]
    assert e["baseline"]["value"] == 0.1 and [p["value"] for p in e["history"]] == [0.3, 0.45]
    assert e["tiers"] == ["easy"]
    assert c.get("/api/dash/versions").json()["versions"][0]["name"] == "v001_20260101_first"
    names = {r["name"] for r in c.get("/api/dash/reports").json()["reports"]}
    assert names == {"daily-2026-01-01.md", "daily-2026-01-01.html"}
    assert (
        c.get("/api/dash/events", params={"kind": "preview"}).json()["events"][0]["kind"]
        == "preview"
    )
    assert c.get("/api/dash/runs").json()["runs"][0]["id"] == RUN
    assert c.get("/api/dash/live", params={"run": "../../etc"}).status_code == 404


def test_pages_and_assets(dash: tuple[TestClient, Workspace]) -> None:
    c, _ = dash
    for path in (
        "/dashboard/",
        "/dashboard/live",
        "/dashboard/evolution",
        "/dashboard/curve",
        "/dashboard/compare",
        "/dashboard/evals",
        "/dashboard/versions",
        "/dashboard/reports",
    ):
        r = c.get(path)
        assert r.status_code == 200, path
        assert "plotly.min.js" in r.text and "dash.js" in r.text
        assert "<form" not in r.text and "<button" not in r.text  # view-only
        assert "script-src 'self'" in r.headers["content-security-policy"]
    js = c.get("/dashboard/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert c.get("/dashboard/static/dash.js").status_code == 200
    assert c.get("/dashboard/static/dash.css").status_code == 200
    rep = c.get("/dashboard/reports/daily-2026-01-01.md")
    assert rep.status_code == 200 and "Daily report" in rep.text
    assert "access-control-allow-origin" not in {k.lower() for k in rep.headers}
    # only GET routes: nothing here changes training
    for route in c.app.routes:  # type: ignore[attr-defined]
        methods = getattr(route, "methods", None) or set()
        assert methods <= {"GET", "HEAD"}, route


@pytest.mark.parametrize(
    "path",
    [
        "/../mentor.yaml",
        "/mentor.yaml",
        "/state.db",
        "/dashboard/../mentor.yaml",
        "/dashboard/static/../../state.db",
        "/dashboard/static/%2e%2e/%2e%2e/state.db",
        "/dashboard/static/..%2f..%2fstate.db",
        "/dashboard/static/router.py",
        "/dashboard/static/templates/base.html",
        "/dashboard/reports/../mentor.yaml",
        "/dashboard/reports/..%2fmentor.yaml",
        "/dashboard/reports/%2e%2e/state.db",
        "/dashboard/reports//etc/passwd",
        "/dashboard/reports/secret.txt",
        "/runs/" + RUN + "/metrics.jsonl",
        "/status/training_status.json",
    ],
)
def test_path_traversal_refused(dash: tuple[TestClient, Workspace], path: str) -> None:
    c, ws = dash
    (ws.home / "secret.txt").write_text("secret")
    r = c.get(path)
    assert r.status_code == 404, (path, r.status_code, r.text[:100])
    assert "secret" not in r.text and "model:" not in r.text


def test_symlinked_report_outside_is_not_served(dash: tuple[TestClient, Workspace]) -> None:
    c, ws = dash
    (ws.reports / "link.md").symlink_to(ws.config_file)
    assert c.get("/dashboard/reports/link.md").status_code == 404
    assert "link.md" not in {r["name"] for r in c.get("/api/dash/reports").json()["reports"]}


def test_key_required_off_loopback(workspace: Workspace) -> None:
    from mentor.serve.dashboard import create_dashboard_app

    fill_workspace(workspace)
    cfg = config_mod.load(workspace.config_file)
    key = "mentor-test-key"
    cfg.serve.host = "0.0.0.0"
    cfg.serve.api_keys = [hashlib.sha256(key.encode()).hexdigest()]
    c = TestClient(create_dashboard_app(workspace, cfg))
    assert c.get("/api/dash/overview").status_code == 401
    assert c.get("/dashboard/").status_code == 401
    assert c.get("/dashboard/static/dash.js").status_code == 401
    assert c.get("/api/dash/overview", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert (
        c.get("/api/dash/overview", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
    r = c.get("/dashboard/live", params={"key": key}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/live"
    assert "httponly" in r.headers["set-cookie"].lower()
    assert c.get("/api/dash/overview").status_code == 200  # the cookie now


def test_loopback_needs_no_key(dash: tuple[TestClient, Workspace]) -> None:
    c, _ = dash
    assert c.get("/api/dash/status").json()["status"] == "training"


def test_empty_workspace(workspace: Workspace) -> None:
    from mentor.serve.dashboard import create_dashboard_app

    c = TestClient(create_dashboard_app(workspace, config_mod.load(workspace.config_file)))
    for ep in (
        "overview",
        "metrics",
        "live",
        "evolution",
        "evals",
        "versions",
        "reports",
        "events",
    ):
        assert c.get(f"/api/dash/{ep}").status_code == 200, ep


def test_jsonl_cache_reads_appends_and_rewrites(tmp_path: Path) -> None:
    from mentor.serve.dashboard.views import jsonl as data

    p = tmp_path / "m.jsonl"
    p.write_text('{"step": 1}\n{"step": 2}\n{"step": 3')
    assert [r["step"] for r in data.read_jsonl(p)] == [1, 2]
    with open(p, "a") as f:
        f.write('}\n{"step": 4}\n')
    assert [r["step"] for r in data.read_jsonl(p)] == [1, 2, 3, 4]
    p.write_text('{"step": 9}\n')  # replaced by a shorter file
    assert [r["step"] for r in data.read_jsonl(p)] == [9]
    p.unlink()
    assert data.read_jsonl(p) == []


def test_a_nan_loss_reads_as_null_not_a_server_error(workspace: Workspace) -> None:
    """A diverged run writes ``NaN`` into metrics.jsonl; the overview and the curves must still
    load (they answered 500: ``json.dumps`` refuses NaN), showing the value as missing."""
    from mentor.serve.dashboard import create_dashboard_app

    rd = fill_workspace(workspace, steps=3)
    with open(rd / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({**metric_record(4), "loss": float("nan")}) + "\n")
    c = TestClient(create_dashboard_app(workspace, config_mod.load(workspace.config_file)))
    o = c.get("/api/dash/overview")
    assert o.status_code == 200, o.text
    assert o.json()["last_metrics"]["step"] == 4 and o.json()["last_metrics"]["loss"] is None
    m = c.get("/api/dash/metrics")
    assert m.status_code == 200 and m.json()["records"][-1]["loss"] is None
    assert "NaN" not in m.text


def test_eval_reports_two_folders_deep_are_listed_and_served(
    dash: tuple[TestClient, Workspace], tmp_path: Path
) -> None:
    """``mentor eval`` writes ``reports/evals/<run>/report.{md,html,json}``; the Reports page
    listed one folder deep only, so they were missing and their URLs 404."""
    c, ws = dash
    run = ws.reports / "evals" / "20260101-000000-eval"
    run.mkdir(parents=True)
    (run / "report.md").write_text("# Eval report\nsolved 0.4\n")
    (run / "report.html").write_text("<html><body>eval</body></html>")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "leak.md").write_text("secret")
    (ws.reports / "evals" / "linked").symlink_to(outside, target_is_directory=True)
    names = {r["name"] for r in c.get("/api/dash/reports").json()["reports"]}
    assert {
        "evals/20260101-000000-eval/report.md",
        "evals/20260101-000000-eval/report.html",
    } <= names
    assert not any("leak" in n for n in names)
    r = c.get("/dashboard/reports/evals/20260101-000000-eval/report.md")
    assert r.status_code == 200 and "Eval report" in r.text
    for bad in (
        "/dashboard/reports/evals/linked/leak.md",
        "/dashboard/reports/evals/20260101-000000-eval/../../../mentor.yaml",
        "/dashboard/reports/evals/%2e%2e/%2e%2e/mentor.yaml",
        "/dashboard/reports/evals/20260101-000000-eval/..%2f..%2f..%2fstate.db",
    ):
        got = c.get(bad)
        assert got.status_code == 404, bad
        assert "secret" not in got.text
