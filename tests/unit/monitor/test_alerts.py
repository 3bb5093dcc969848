"""Alert rules (pure), recording with de-duplication, the JSONL tail reader."""

from __future__ import annotations

import json
from pathlib import Path

from mentor.monitor import alerts
from mentor.monitor.alerts import Rules, check


def recs(losses: list[float], tps: float | list[float] = 1000.0) -> list[dict]:
    t = tps if isinstance(tps, list) else [tps] * len(losses)
    return [{"step": i + 1, "loss": x, "tokens_per_s": t[i]} for i, x in enumerate(losses)]


def kinds(found: list[alerts.Alert]) -> set[str]:
    return {a.kind for a in found}


def test_quiet_run_raises_nothing() -> None:
    assert check(recs([2.0, 1.9, 1.8, 1.7, 1.6, 1.5]), {"disk_free_gib": 100.0, "gpus": []}) == []
    assert check([], None) == []


def test_nan_loss_and_grad_norm() -> None:
    found = check(recs([2.0, 1.9, float("nan")]))
    assert [(a.kind, a.level) for a in found] == [("loss_nan", "critical")]
    r = recs([2.0, 1.9, 1.8])
    r[-1]["grad_norm"] = float("inf")
    assert kinds(check(r)) == {"loss_nan"}


def test_loss_spike() -> None:
    assert "loss_spike" in kinds(check(recs([1.0, 1.1, 0.9, 1.0, 3.5])))
    assert "loss_spike" not in kinds(check(recs([1.0, 1.1, 0.9, 1.0, 1.6])))
    assert "loss_spike" not in kinds(check(recs([1.0, 3.0])))  # too little history


def test_throughput_drop() -> None:
    tps = [1000.0] * 10 + [400.0] * 10
    found = check(recs([1.0] * 20, tps))
    assert "throughput_drop" in kinds(found)
    assert "throughput_drop" not in kinds(check(recs([1.0] * 20, [1000.0] * 10 + [900.0] * 10)))


def test_val_gap() -> None:
    r = recs([1.0] * 10)
    r[-1]["val_loss"] = 1.6
    assert "val_gap" in kinds(check(r))
    r[-1]["val_loss"] = 1.1
    assert "val_gap" not in kinds(check(r))


def test_disk_and_gpu_temperature() -> None:
    rules = Rules(min_free_gib=5.0)
    assert [(a.kind, a.level) for a in check([], {"disk_free_gib": 2.0}, rules)] == [
        ("low_disk", "critical")
    ]
    assert [(a.kind, a.level) for a in check([], {"disk_free_gib": 8.0}, rules)] == [
        ("low_disk", "warning")
    ]
    sys = {
        "gpus": [
            {"index": 0, "temperature_c": 86.0},
            {"index": 1, "temperature_c": 93.0},
            {"index": 2},
        ]
    }
    assert [(a.kind, a.level) for a in check([], sys)] == [
        ("gpu_temperature", "warning"),
        ("gpu_temperature", "critical"),
    ]


def test_rules_from_config() -> None:
    from mentor.config import Config

    cfg = Config()
    cfg.daemon.min_free_gib = 11.0
    cfg.eval.alerts.loss_spike_ratio = 3.5
    cfg.eval.alerts.gpu_warn_c = 70.0
    rules = Rules.from_config(cfg)
    assert (rules.min_free_gib, rules.spike_ratio, rules.gpu_warn_c) == (11.0, 3.5, 70.0)


def test_record_deduplicates_and_active(workspace) -> None:
    from mentor.store import connect, events

    conn = connect(workspace.db)
    a = [alerts.Alert("gpu_temperature", "warning", "GPU 0 at 86 °C")]
    assert alerts.record(conn, a, now=1000.0) == a
    assert alerts.record(conn, a, now=1100.0) == []  # within the de-dup window
    worse = [alerts.Alert("gpu_temperature", "critical", "GPU 0 at 92 °C")]
    assert alerts.record(conn, worse, now=1200.0) == worse  # a new level is news
    assert alerts.record(conn, a, now=1000.0 + 601) == a  # after the window
    evs = events.recent(conn, kinds=["alert"])
    assert len(evs) == 3 and evs[0].data["alert"] == "gpu_temperature"
    act = alerts.active(conn, within_s=600, now=1700.0)
    assert len(act) == 1 and act[0]["kind"] == "gpu_temperature" and act[0]["level"] == "warning"
    conn.close()


def test_tail_jsonl(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"
    assert alerts.tail_jsonl(p) == []
    p.write_text("".join(json.dumps({"step": i}) + "\n" for i in range(100)) + '{"step": 10')
    assert [r["step"] for r in alerts.tail_jsonl(p, 3)] == [98, 99]  # the torn last line is skipped
    assert len(alerts.tail_jsonl(p, 0)) == 100
    small = alerts.tail_jsonl(p, 5, max_bytes=40)
    assert small and all(isinstance(r["step"], int) for r in small)
