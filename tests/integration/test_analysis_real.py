"""The analysis tools on a real tiny run: train a small SYLLO file through the real Trainer,
then the curve, the daily report, a comparison with real evaluations, and the API server's
metrics snapshot."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mentor import config as config_mod
from mentor.analysis import sources
from mentor.analysis.compare import compare
from mentor.analysis.curve_data import curve_data
from mentor.analysis.daily import daily_data
from mentor.cli import app
from mentor.paths import Workspace, atomic_write_text
from mentor.store import connect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A workspace whose lineage trained 40 SYLLO rows (logged every step, validation loss every
    3 steps, live previews every 5)."""
    from mentor.tasks.syllo.generate import generate
    from mentor.train import train_file

    root = tmp_path_factory.mktemp("analysis")
    ws = Workspace(root / "ws")
    for d in ws.layout():
        d.mkdir(parents=True, exist_ok=True)
    cfg = config_mod.Config()
    cfg.model.path = str(tiny_model_dir)
    t = cfg.training
    t.max_length, t.lora_r, t.lora_alpha, t.batch_size, t.grad_accum = 1024, 8, 8, 1, 1
    t.learning_rate, t.warmup_steps, t.logging_steps = 5e-3, 2, 1
    t.warmup_ratio = 1.0  # exactly 2 warmup steps, as the curve was measured with
    cfg.eval.val_every, cfg.eval.live_every, cfg.eval.probe_count = 3, 5, 2
    cfg.data.holdout_max, cfg.data.holdout_fraction = 4, 0.1
    cfg.eval.max_new_tokens = 8
    atomic_write_text(ws.config_file, config_mod.dump_yaml(cfg))
    connect(ws.db).close()
    f = root / "easy.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in generate(40, 3, tier="easy")))
    outcome = train_file(ws, cfg, f)
    assert outcome.status == "completed"
    return ws, config_mod.load(ws.config_file), outcome


def test_curve_of_a_real_run(trained):
    ws, cfg, outcome = trained
    records = [
        json.loads(x)
        for x in (ws.run_dir(outcome.run_id) / "metrics.jsonl").read_text().splitlines()
    ]
    d = curve_data(ws, cfg)
    loss = d["series"]["loss"]
    assert loss["steps"] == [r["step"] for r in records if "loss" in r]
    assert loss["values"] == [r["loss"] for r in records if "loss" in r]
    assert d["series"]["val_loss"]["steps"] == [r["step"] for r in records if "val_loss" in r]
    assert len(d["series"]["val_loss"]["steps"]) >= 3
    previews = [
        json.loads(x)
        for x in (ws.run_dir(outcome.run_id) / "previews.jsonl").read_text().splitlines()
    ]
    assert previews and d["previews"]["steps"] == [p["step"] for p in previews]
    assert d["previews"]["values"] == [p["solved_share"] for p in previews]
    assert d["boundaries"] == [{"step": 0, "file": "easy.jsonl", "run": outcome.run_id}]
    a = d["analysis"]
    # the tiny model's loss falls fast at this learning rate: the analyzer sees it
    assert a["lines"][0].startswith("✅ Training loss decreasing steadily")
    assert a["best_step"] in d["series"]["val_loss"]["steps"]

    html = ws.home / "curve.html"
    r = CliRunner().invoke(
        app, ["--home", str(ws.home), "curve", outcome.run_id, "--json", "--html", str(html)]
    )
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["analysis"]["lines"] == a["lines"] and got["html"] == str(html)
    page = html.read_text()
    assert "Training loss decreasing steadily" in page and "<script src=" not in page
    r = CliRunner().invoke(app, ["--home", str(ws.home), "curve", "--lineage"])
    assert r.exit_code == 0 and "✅ Training loss decreasing steadily" in r.stdout


def test_daily_report_of_a_real_run(trained):
    ws, cfg, outcome = trained
    run = sources.load_run(ws, outcome.run_id)
    d = daily_data(ws, cfg, dt.date.fromtimestamp(run.started_at))
    t = d["training"]
    assert t["files"] == ["easy.jsonl"]
    assert t["rows"] == outcome.rows_trained == 36  # 40 rows, 4 held out
    assert t["steps"] == outcome.global_step
    assert t["final_loss"] == pytest.approx(outcome.metrics["loss"])
    assert d["cost"]["runs"][0]["device"] in ("cpu", "gpu")
    r = CliRunner().invoke(
        app,
        ["--home", str(ws.home), "report", "daily", "--date", d["date"], "--json", "--no-notify"],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert Path(out["markdown"]).is_file() and Path(out["html"]).is_file()
    assert out["report"]["training"]["rows"] == 36


def test_compare_evaluates_then_reuses_stored_items(trained, tmp_path: Path):
    ws, cfg, _ = trained
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Say the word number {i}."},
                {"role": "assistant", "content": f"word {i}"},
            ],
            "metadata": {"tier": "easy" if i % 2 else "hard"},
        }
        for i in range(8)
    ]
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    first = compare(ws, cfg, "base", "current", data=data)
    task = first["tasks"][0]
    assert task["n"] == 8 and task["evaluated"] == {"a": 8, "b": 8}
    assert set(task["tiers"]) == {"easy", "hard"}
    assert {"exact", "loss"} <= set(first["p_value"])
    # training changed the model: the average loss per item differs on every item
    assert task["metrics"]["loss"]["delta"] != 0
    r = CliRunner().invoke(
        app,
        [
            "--home",
            str(ws.home),
            "compare",
            "base",
            "current",
            "--data",
            str(data),
            "--stored-only",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    second = json.loads(r.stdout)
    assert second["tasks"][0]["evaluated"] == {"a": 0, "b": 0}
    assert second["tasks"][0]["reused"] == {"a": 8, "b": 8}
    assert second["p_value"] == first["p_value"]
    assert second["verdict"] == first["verdict"]


def test_the_api_server_leaves_a_metrics_snapshot(trained):
    from fastapi.testclient import TestClient

    from mentor.serve.app import create_app

    ws, cfg, _ = trained
    cfg.serve.reload_seconds, cfg.report.serve_snapshot_seconds = 0.05, 0.1
    with TestClient(create_app(ws, cfg)) as client:
        for _ in range(2):
            r = client.post("/generate", json={"prompt": "hello", "max_tokens": 4})
            assert r.status_code == 200
        client.get("/health")
        deadline = time.time() + 20
        snap: dict = {}
        while time.time() < deadline:  # written periodically while the server runs
            if ws.serve_metrics_file.is_file():
                snap = json.loads(ws.serve_metrics_file.read_text())
                if snap.get("requests") == 2:
                    break
            time.sleep(0.05)
    assert snap["requests"] == 2 and snap["errors"] == 0
    assert snap["generated_tokens"] >= 1 and snap["latency_p50_s"] > 0
    r = CliRunner().invoke(app, ["--home", str(ws.home), "summary", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["business"]["production"]["requests"] >= 2
