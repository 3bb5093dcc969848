"""The dashboard's lineage curves, Curve page and Compare page through the real app (TestClient),
on a workspace seeded by hand: run folders with meta.json and metrics.jsonl, the ``runs`` table,
stored eval items keyed by the models' real content hashes."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from helpers.adapters import make_adapter
from helpers.analysis_seed import add_run
from mentor import config as config_mod
from mentor.paths import Workspace
from mentor.store import connect
from mentor.store import evals as store_evals


def records(start: int, end: int, file_scale: float = 1.0) -> list[dict]:
    return [
        {
            "step": s,
            "ts": 1000.0 + s,
            "loss": file_scale * (2.5 * math.exp(-s / 40) + 0.4),
            "lr": 2e-4 * min(1.0, s / 5),
            "tokens_per_s": 900.0 + s,
            **({"val_loss": 2.5 * math.exp(-s / 40) + 0.6} if s % 10 == 0 else {}),
        }
        for s in range(start + 1, end + 1)
    ]


def seed_lineage(ws: Workspace) -> None:
    """Lineage 1: a.jsonl (steps 1-30), its resume (31-40), b.jsonl (41-70); lineage 2 older."""
    add_run(
        ws,
        "r0-other",
        file="z.jsonl",
        started=10.0,
        seconds=5,
        step_start=0,
        step_end=5,
        records=records(0, 5),
        lineage_id=2,
    )
    add_run(
        ws,
        "r1-a",
        file="a.jsonl",
        started=100.0,
        seconds=30,
        step_start=0,
        step_end=30,
        records=records(0, 30),
        lineage_id=1,
    )
    add_run(
        ws,
        "r2-a-resume",
        file="a.jsonl",
        started=200.0,
        seconds=10,
        step_start=28,
        step_end=40,
        records=records(28, 40),
        lineage_id=1,
    )
    add_run(
        ws,
        "r3-b",
        file="b.jsonl",
        started=300.0,
        seconds=30,
        step_start=40,
        step_end=70,
        records=records(40, 70),
        lineage_id=1,
    )


@pytest.fixture()
def client(workspace: Workspace) -> TestClient:
    from mentor.serve.dashboard import create_dashboard_app

    return TestClient(create_dashboard_app(workspace, config_mod.load(workspace.config_file)))


def test_overview_curves_follow_the_lineage_across_files(workspace, client):
    """The loss, LR and throughput charts read every run of the newest run's lineage by global
    step, not the newest run alone (which held 30 of the 70 steps), with file boundaries."""
    seed_lineage(workspace)
    m = client.get("/api/dash/metrics").json()
    steps = [r["step"] for r in m["records"]]
    assert steps == list(range(1, 71))  # a resume re-logs 29-30: once, from the later run
    assert {r["run"] for r in m["records"]} == {"r1-a", "r2-a-resume", "r3-b"}
    assert next(r for r in m["records"] if r["step"] == 29)["run"] == "r2-a-resume"
    assert all(isinstance(r.get("lr"), float) for r in m["records"])
    assert [(b["step"], b["file"]) for b in m["boundaries"]] == [(0, "a.jsonl"), (40, "b.jsonl")]
    assert [r["id"] for r in m["runs"]] == ["r1-a", "r2-a-resume", "r3-b"]
    one = client.get("/api/dash/metrics", params={"run": "r3-b", "lineage": False}).json()
    assert [r["step"] for r in one["records"]] == list(range(41, 71))
    other = client.get("/api/dash/metrics", params={"run": "r0-other"}).json()
    assert [r["step"] for r in other["records"]] == [1, 2, 3, 4, 5]
    page = client.get("/dashboard/")
    assert page.status_code == 200 and 'id="lineage-note"' in page.text


def test_curve_page_and_json(workspace, client):
    assert client.get("/api/dash/curve").json()["runs"] == []  # nothing trained: empty, not 404
    seed_lineage(workspace)
    d = client.get("/api/dash/curve").json()
    assert [r["id"] for r in d["runs"]] == ["r1-a", "r2-a-resume", "r3-b"]
    loss = d["series"]["loss"]
    assert loss["steps"][0] == 1 and loss["steps"][-1] == 70
    assert len(loss["smooth"]) == len(loss["values"])
    assert [b["file"] for b in d["boundaries"]] == ["a.jsonl", "b.jsonl"]
    assert any(line.startswith("✅ Training loss") for line in d["analysis"]["lines"])
    one = client.get("/api/dash/curve", params={"run": "r0-other"}).json()
    assert one["series"]["loss"]["steps"] == [1, 2, 3, 4, 5]
    assert client.get("/api/dash/curve", params={"run": "nope"}).status_code == 404
    page = client.get("/dashboard/curve")
    assert page.status_code == 200
    assert "analysis.js" in page.text and 'id="chart-curve-loss"' in page.text
    assert client.get("/dashboard/static/analysis.js").status_code == 200


def test_business_metrics_on_the_curve_page(workspace, client):
    # Issue 14: cost, ROI, improvement and production shown on the dashboard too, from the same
    # function as `mentor summary` and the daily report.
    from mentor.analysis.costs import business

    seed_lineage(workspace)
    got = client.get("/api/dash/business").json()
    cfg = config_mod.load(workspace.config_file)
    want = business(workspace, cfg)
    assert got["cost"]["train_hours"] == pytest.approx(want["cost"]["train_hours"])
    assert got["cost"]["train_hours"] > 0 and got["cost"]["currency"] == cfg.cost.currency
    assert got["roi"] == want["roi"] and got["improvement"] == want["improvement"]
    page = client.get("/dashboard/curve").text
    assert 'id="curve-cost"' in page and 'id="curve-roi"' in page


def _store_items(ws: Workspace, ref: str, model_hash: str, task, solved: list[float]) -> None:
    conn = connect(ws.db)
    try:
        store_evals.insert_eval(
            conn,
            model_ref=ref,
            model_hash=model_hash,
            version=None,
            benchmark=task.name,
            bench_version=task.version,
            is_baseline=False,
            metrics={"seconds": 1.0, "new_tokens": 10 * len(solved)},
            items=[
                store_evals.ItemRow(it.id, it.tier, "out", {"solved": s})
                for it, s in zip(task.items, solved, strict=False)
            ],
            created_at=1.0,
        )
    finally:
        conn.close()


def test_compare_page_from_stored_items(workspace, client, tiny_model_dir):
    """Two models chosen by name; the paired statistics come from the stored items of both
    (nothing generated); a model not offered is 404 and names no server path."""
    from mentor.evals.tasks import benchmark_task
    from mentor.models.refs import resolve_model

    cfg = config_mod.load(workspace.config_file)
    make_adapter(tiny_model_dir, workspace.current, seed=3)
    task = benchmark_task("syllo_easy_100")
    n = 30
    a_solved = [1.0 if i < 5 else 0.0 for i in range(n)]
    b_solved = [1.0 if i < 22 else 0.0 for i in range(n)]
    for ref, solved in (("base", a_solved), ("current", b_solved)):
        _store_items(workspace, ref, resolve_model(workspace, cfg, ref).hash, task, solved)

    models = client.get("/api/dash/compare/models").json()
    assert models["models"] == ["base", "current"]
    assert models["benchmarks"] == list(cfg.eval.benchmarks)
    r = client.get(
        "/api/dash/compare", params={"a": "base", "b": "current", "bench": "syllo_easy_100"}
    )
    assert r.status_code == 200, r.text
    d = r.json()
    solved = d["overall"]["solved"]
    assert solved["n"] == n and solved["test"] == "mcnemar"
    assert solved["delta"] == pytest.approx((22 - 5) / n)
    from scipy.stats import binomtest

    assert solved["p_value"] == pytest.approx(binomtest(0, 17, 0.5).pvalue)
    assert solved["winner"] == "B" and d["verdict"][0].startswith("✅ current beats base")
    assert "path" not in d["a"] and str(workspace.home) not in r.text
    bad = client.get("/api/dash/compare", params={"a": "base", "b": "v009"})
    assert bad.status_code == 404 and str(workspace.home) not in bad.text
    assert bad.json()["error"]["code"] == "not_found_error"
    page = client.get("/dashboard/compare")
    assert page.status_code == 200 and 'id="cmp-a"' in page.text and 'id="cmp-b"' in page.text
