"""The baseline cache on a real state.db: evaluated once per (base model, task version),
extended only with items it has not seen, its items file kept whole."""

from __future__ import annotations

import json
from pathlib import Path

from mentor.evals.baseline import BaselineCache
from mentor.evals.results import TaskRun
from mentor.evals.tasks import Item, Task
from mentor.models.refs import ModelSpec
from mentor.paths import Workspace
from mentor.store import connect
from mentor.store import evals as store


def _items(n: int) -> list[Item]:
    return [
        Item(f"p{i}", [{"role": "user", "content": f"q{i}"}], f"gold{i}", "easy") for i in range(n)
    ]


def _spec(base_hash: str) -> ModelSpec:
    return ModelSpec("v001", Path("m"), Path("a"), "v001", "cand", base_hash, False)


class _Runs:
    """Scores every item 1.0 and records which items it was asked to run."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def __call__(self, items: list[Item]) -> TaskRun:
        self.asked.append([i.id for i in items])
        rows = [store.ItemRow(i.id, i.tier, "out", {"solved": 1.0}) for i in items]
        return TaskRun(rows, len(rows), 1.0, 16)


def test_created_once_then_extended_with_new_items_only(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    conn = connect(ws.db)
    task = Task("bench", "v1", _items(6), ["syllo"])
    goldens = {i.id: i.golden or "" for i in task.items}
    cache, runs = BaselineCache(ws, conn, _spec("h0"), "run1"), _Runs()
    assert cache.ensure(task, [], goldens, runs) is None  # nothing to start one with
    first = cache.ensure(task, task.items[:3], goldens, runs)
    assert first is not None and set(first.items) == {"p0", "p1", "p2"}
    again = cache.ensure(task, task.items[:3], goldens, runs)
    assert again is not None and again.eval_id == first.eval_id
    wider = cache.ensure(task, task.items, goldens, runs)
    assert wider is not None and wider.eval_id == first.eval_id and len(wider.items) == 6
    assert runs.asked == [["p0", "p1", "p2"], ["p3", "p4", "p5"]]
    row = store.get_eval(conn, first.eval_id)
    assert row is not None and row.is_baseline and row.n == 6 and row.model_hash == "h0"
    assert row.metrics["overall"]["solved"] == 1.0
    lines = [json.loads(x) for x in (Path(row.path or "") / "items.jsonl").read_text().splitlines()]
    assert {x["item_id"]: x["golden"] for x in lines} == goldens  # old and new goldens kept
    conn.close()


def test_a_new_task_version_or_base_model_is_a_new_baseline(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    conn = connect(ws.db)
    items = _items(2)
    runs = _Runs()
    ids = set()
    for base_hash, version in (("h0", "v1"), ("h0", "v2"), ("h1", "v1"), ("h0", "v1")):
        cache = BaselineCache(ws, conn, _spec(base_hash), "run")
        b = cache.ensure(Task("bench", version, items, ["syllo"]), items, {}, runs)
        assert b is not None
        ids.add(b.eval_id)
    assert len(ids) == 3 and len(runs.asked) == 3  # the fourth was the first one again
    conn.close()
