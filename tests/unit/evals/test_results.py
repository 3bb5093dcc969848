"""Results of an evaluation: summaries per tier, intervals, paired tests against the baseline,
the pooled result over benchmarks and the items file, on hand-made item rows (no model)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mentor.evals.results import (
    Baseline,
    TaskRun,
    bench_result,
    combine,
    intervals,
    metrics_record,
    read_goldens,
    summarize,
    write_items,
)
from mentor.evals.stats import wilson
from mentor.evals.tasks import Task
from mentor.models.refs import ModelSpec
from mentor.paths import Workspace
from mentor.store.evals import ItemRow


def _row(i: int, tier: str, solved: float, cut: float = 0.0, **extra: float) -> ItemRow:
    scores = {"solved": solved, "word_acc": 0.5 + solved / 2, "_cut": cut, **extra}
    return ItemRow(f"i{i}", tier, f"out{i}", scores)


def _task(name: str = "b") -> Task:
    return Task(name, "v1", [], ["syllo"])


def test_summarize_per_tier_truncation_and_pooled_loss() -> None:
    rows = [_row(0, "easy", 1.0), _row(1, "easy", 0.0, cut=1.0), _row(2, "hard", 0.0)]
    overall, tiers = summarize(rows)
    assert overall["solved"] == pytest.approx(1 / 3)
    assert overall["truncated"] == pytest.approx(1 / 3)  # share of outputs cut at the cap
    assert set(tiers) == {"easy", "hard"}
    assert tiers["easy"]["solved"] == 0.5 and tiers["hard"]["truncated"] == 0.0
    assert "_cut" not in overall  # bookkeeping stays out of the metrics
    # loss is pooled over tokens, not a mean of per-item means
    lossy = [
        ItemRow("a", None, "", {"loss": 1.0, "_nll_sum": 1.0, "_tokens": 1.0}),
        ItemRow("b", None, "", {"loss": 3.0, "_nll_sum": 9.0, "_tokens": 3.0}),
    ]
    overall, tiers = summarize(lossy)
    assert overall["loss"] == pytest.approx(10 / 4) and set(tiers) == {"all"}
    assert overall["perplexity"] == pytest.approx(math.exp(2.5))


def test_intervals_only_for_proportions() -> None:
    rows = [_row(i, "easy", float(i < 3), loss=2.0) for i in range(10)]
    overall, _ = summarize(rows)
    iv = intervals(rows, overall)
    assert iv["solved"] == pytest.approx(wilson(3, 10))
    assert "loss" not in iv and "truncated" not in iv  # lower-is-better metrics have none


def test_bench_result_pairs_with_the_baseline_per_tier() -> None:
    cand = [_row(i, "easy" if i < 6 else "hard", 1.0) for i in range(12)]
    base = {r.item_id: ItemRow(r.item_id, r.tier, "", {"solved": 0.0}) for r in cand}
    base["extra"] = ItemRow("extra", "easy", "", {"solved": 1.0})  # not in this evaluation
    run = TaskRun(cand, new_tokens=100, seconds=4.0, max_new_tokens=64)
    res = bench_result(_task(), 7, cand, run, {"i0": "gold"}, Baseline(3, base))
    assert res.eval_id == 7 and res.baseline_eval_id == 3 and res.n == 12
    assert res.tokens_per_s == 25.0 and res.max_new_tokens == 64
    assert res.tests["solved"].n == 12 and res.tests["solved"].delta == 1.0
    assert res.tests["solved"].test == "mcnemar" and res.tests["solved"].p_value < 0.001
    assert "word_acc" not in res.tests  # the baseline did not score it
    assert res.baseline == {"solved": 0.0}
    assert set(res.base_items) == {r.item_id for r in cand}
    assert res.tier_tests["easy"]["solved"].n == 6 and res.tier_tests["hard"]["solved"].n == 6
    alone = bench_result(_task(), 8, cand, run, {})
    assert alone.baseline_eval_id is None and alone.tests == {} and alone.base_items == {}


def test_combine_pools_benchmarks_by_prefixed_ids(tmp_path: Path) -> None:
    rows = [_row(0, "easy", 1.0), _row(1, "easy", 0.0)]  # same item ids in both benchmarks
    base = Baseline(1, {r.item_id: ItemRow(r.item_id, r.tier, "", {"solved": 0.0}) for r in rows})
    run = TaskRun(rows, 0, 0.0, 8)
    results = {n: bench_result(_task(n), 2, rows, run, {}, base) for n in ("a", "b")}
    spec = ModelSpec("v001", tmp_path, tmp_path / "ad", "v001", "h1", "h0", False)
    res = combine("run", spec, results)
    assert res.overall["solved"] == 0.5
    assert res.baseline_tests["solved"].n == 4  # a/i0, a/i1, b/i0, b/i1
    assert res.baseline_delta == {"solved": 0.5}
    assert set(res.item_scores("solved")) == {"a/i0", "a/i1", "b/i0", "b/i1"}
    out = json.loads(json.dumps(res.to_json()))
    assert out["model"] == "v001" and out["version"] == "v001"
    assert out["benchmarks"]["a"]["baseline_delta"]["solved"]["n"] == 2
    assert out["intervals"]["solved"] == list(res.intervals["solved"])


def test_items_file_round_trip(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    rows = [_row(0, "easy", 1.0), _row(1, "hard", 0.0)]
    d = write_items(ws, 5, rows, {"i0": "gold0"})
    lines = [json.loads(x) for x in (d / "items.jsonl").read_text().splitlines()]
    assert [x["item_id"] for x in lines] == ["i0", "i1"]
    assert lines[1]["golden"] is None and lines[0]["scores"]["solved"] == 1.0
    assert read_goldens(ws, 5) == {"i0": "gold0", "i1": ""}
    assert read_goldens(ws, 6) == {}
    rec = metrics_record(rows, TaskRun(rows, 10, 2.0, 32), _task(), "r1")
    assert rec["run"] == "r1" and rec["tokens_per_s"] == 5.0 and rec["overall"]["solved"] == 0.5
