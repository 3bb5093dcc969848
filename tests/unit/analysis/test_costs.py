"""Cost, energy, ROI, improvement over time and production figures against hand-computed values."""

from __future__ import annotations

import time

import pytest

from helpers.analysis_seed import add_eval, add_run, add_version
from mentor import config as config_mod
from mentor.analysis import costs, sources
from mentor.serve.metrics import ServeMetrics, quantile

T0 = 1_790_000_000.0


@pytest.fixture()
def seeded(ws):
    """Run b (CPU, 30 min, rows 500) -> v001; run a (GPU x2, 90 min, NVML power) -> v002."""
    add_run(
        ws,
        "run-b",
        file="b.jsonl",
        started=T0,
        seconds=1800,
        step_start=0,
        step_end=100,
        device="cpu",
        rows=500,
    )
    add_version(
        ws,
        file="b.jsonl",
        rows=500,
        run_id="run-b",
        steps=100,
        now=T0 + 1900,
        metrics={"quick.solved": 0.30, "quick.delta.solved": 0.10},
    )
    power = [
        {"step": 100 + 10 * i, "loss": 1.0, "sys_gpu_power_w": w, "ts": T0 + 2000 + i}
        for i, w in enumerate((300.0, 310.0, 290.0))
    ]
    add_run(
        ws,
        "run-a",
        file="a.jsonl",
        started=T0 + 2000,
        seconds=5400,
        step_start=100,
        step_end=400,
        device="cuda",
        rows=2000,
        records=power,
    )
    add_version(
        ws,
        file="a.jsonl",
        rows=2000,
        run_id="run-a",
        steps=400,
        now=T0 + 7500,
        metrics={"quick.solved": 0.36, "quick.delta.solved": 0.16},
    )
    add_eval(
        ws,
        version="v002",
        benchmark="syllo_easy_100",
        tier="easy",
        solved=[1.0, 0.0],
        created_at=T0 + 7600,
        seconds=720,
    )
    cfg = config_mod.load(ws.config_file)
    c = cfg.cost
    c.gpu_price_per_hour, c.gpu_count, c.cpu_price_per_hour = 3.0, 2, 0.5
    c.energy_price_per_kwh, c.power_watts = 0.2, 100.0
    return ws, cfg


def test_cost_per_run(seeded):
    ws, cfg = seeded
    a = costs.run_cost(sources.load_run(ws, "run-a"), cfg.cost)
    # 1.5 h x 2 GPUs x 3.0 = 9.0; mean NVML power 300 W x 2 GPUs x 1.5 h = 0.9 kWh x 0.2 = 0.18
    assert a.gpu_hours == pytest.approx(3.0)
    assert a.compute_cost == pytest.approx(9.0)
    assert (a.energy_kwh, a.energy_source) == (pytest.approx(0.9), "nvml")
    assert a.cost == pytest.approx(9.18)
    b = costs.run_cost(sources.load_run(ws, "run-b"), cfg.cost)
    # CPU: 0.5 h x 0.5 = 0.25; no NVML power -> configured 100 W x 0.5 h = 0.05 kWh x 0.2 = 0.01
    assert b.gpu_hours == 0.0 and b.compute_cost == pytest.approx(0.25)
    assert (b.energy_kwh, b.energy_source) == (pytest.approx(0.05), "configured")
    assert b.cost == pytest.approx(0.26)
    cfg.cost.power_watts = 0.0
    assert costs.run_cost(sources.load_run(ws, "run-b"), cfg.cost).energy_kwh is None


def test_costs_of_a_window(seeded):
    ws, cfg = seeded
    w = costs.costs_between(ws, cfg, T0, T0 + 10_000)
    assert [r["run_id"] for r in w["runs"]] == ["run-b", "run-a"]
    # 720 s of evaluation at the GPU machine's rate (2 x 3.0 per hour) = 1.2
    assert w["eval_hours"] == pytest.approx(0.2) and w["eval_cost"] == pytest.approx(1.2)
    assert w["total_cost"] == pytest.approx(9.18 + 0.26 + 1.2)
    assert w["energy_kwh"] == pytest.approx(0.95)
    only_b = costs.costs_between(ws, cfg, T0, T0 + 1900)
    assert [r["run_id"] for r in only_b["runs"]] == ["run-b"] and only_b["eval_cost"] == 0.0


def test_roi_per_dataset(seeded):
    ws, cfg = seeded
    v1, v2 = costs.roi(ws, cfg)
    # v001 over the untrained baseline: +0.10 for 500 rows and 0.26 of cost
    assert (v1.version, v1.reference, v1.runs) == ("v001", "baseline", ["run-b"])
    assert v1.gain == pytest.approx(0.10)
    assert v1.gain_per_1k_rows == pytest.approx(0.20)
    assert v1.gain_per_cost == pytest.approx(0.10 / 0.26)
    # v002 over its parent v001: 0.36 - 0.30 for 2000 rows and 9.18 of cost
    assert (v2.version, v2.reference, v2.runs, v2.files) == ("v002", "v001", ["run-a"], ["a.jsonl"])
    assert v2.gain == pytest.approx(0.06)
    assert v2.gain_per_1k_rows == pytest.approx(0.03)
    assert v2.gain_per_cost == pytest.approx(0.06 / 9.18)


def test_improvement_over_time(seeded):
    ws, cfg = seeded
    series = costs.improvement(ws, cfg)
    assert [(p["version"], p["value"], p["steps"]) for p in series] == [
        ("v001", 0.30, 100),
        ("v002", 0.36, 400),
    ]
    assert series[0]["change"] is None and series[1]["change"] == pytest.approx(0.06)
    assert [p["version"] for p in costs.improvement(ws, cfg, until=T0 + 2000)] == ["v001"]


def test_production_snapshot_from_the_servers_metrics(ws):
    m = ServeMetrics()
    m.started_at = 1000.0
    for seconds, status in ((0.02, "200"), (0.03, "200"), (0.07, "200"), (0.2, "500")):
        m.latency.labels(route="/v1/chat/completions").observe(seconds)
        m.requests.labels(route="/v1/chat/completions", status=status).inc()
    m.latency.labels(route="/health").observe(5.0)  # probes are not traffic
    m.requests.labels(route="/health", status="200").inc()
    m.on_batch(4, 400, 2.0)
    snap = m.snapshot(now=1100.0)
    assert (snap["requests"], snap["errors"], snap["generated_tokens"]) == (4, 1, 400)
    assert snap["latency_mean_s"] == pytest.approx(0.32 / 4)
    # buckets <=0.025: 1, <=0.05: 2, <=0.1: 3, <=0.25: 4 -> p50 = 0.05, p95 = 0.1 + 0.15 x 0.8
    assert snap["latency_p50_s"] == pytest.approx(0.05)
    assert snap["latency_p95_s"] == pytest.approx(0.22)
    assert snap["tokens_per_s_avg"] == pytest.approx(4.0)  # 400 tokens in 100 s
    assert snap["tokens_per_s_last_batch"] == pytest.approx(200.0)
    m.write_snapshot(ws.serve_metrics_file)
    prod = costs.production(ws, now=time.time())
    assert prod["requests"] == 4 and prod["age_s"] is not None and prod["age_s"] >= 0
    assert quantile({}, 0.5) is None and quantile({1.0: 0.0}, 0.5) is None


def test_business_summary_and_empty_workspace(seeded, ws):
    w, cfg = seeded
    b = costs.business(w, cfg)
    assert b["cost"]["total_cost"] == pytest.approx(10.64) and len(b["roi"]) == 2
    assert b["production"] is None
