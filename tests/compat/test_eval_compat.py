"""The users' sample files through mentor's evaluation: their ids, tiers, goldens and shapes.

``syllo_3tier_sample.jsonl`` (chat rows, id and tier in ``metadata``) and
``syllo_10level_sample.jsonl`` (flat ``prompt``/``solution`` rows, id, tier and level at the
top) must become items with the rows' own ids and tiers, choose the SYLLO scorer, and score 1.0
on their goldens through ``mentor eval --data``. Skipped (with the reason) where
``../shared/origin-data`` is absent; the same checks on generated rows always run
(``tests/integration/test_eval_runner.py``, ``tests/unit/evals/test_evaluators.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.replay import replay_backend
from mentor.cli import app
from mentor.evals import evaluators as ev
from mentor.evals.tasks import data_task, items_from_rows, read_jsonl, task_max_new_tokens

THREE, TEN = "syllo_3tier_sample.jsonl", "syllo_10level_sample.jsonl"


def test_items_keep_the_users_ids_tiers_and_goldens(origin_data: Path) -> None:
    three = read_jsonl(origin_data / THREE)
    items = items_from_rows(three)
    assert [i.id for i in items] == [r["metadata"]["puzzle_id"] for r in three]
    assert [i.tier for i in items] == [r["metadata"]["difficulty"] for r in three]
    assert [i.golden for i in items] == [r["messages"][-1]["content"] for r in three]
    ten = read_jsonl(origin_data / TEN)
    items = items_from_rows(ten)
    # the ten-level file reuses puzzle ids across levels: repeats are told apart, never merged
    assert [i.id.split("#")[0] for i in items] == [r["puzzle_id"] for r in ten]
    assert len({i.id for i in items}) == len(ten) > len({r["puzzle_id"] for r in ten})
    assert [i.tier for i in items] == [r["difficulty"] for r in ten]
    assert [i.golden for i in items] == [r["solution"] for r in ten]
    syllo = ev.get("syllo")
    for rows in (three, ten):
        assert data_task(rows, "u").evaluators == ["syllo"]
        for it in items_from_rows(rows):
            assert all(v == 1.0 for v in syllo.score(it, it.golden or "").values()), it.id


def test_cap_fits_the_users_longest_golden(origin_data: Path, tiny_model_dir: Path) -> None:
    # Lesson 11: the default new-token cap never cuts one of the users' answers.
    from mentor.models.loader import load_tokenizer

    tok = load_tokenizer(tiny_model_dir)
    for name in (THREE, TEN):
        task = data_task(read_jsonl(origin_data / name), "u")
        longest = max(len(tok(i.golden, add_special_tokens=False)["input_ids"]) for i in task.items)
        assert task_max_new_tokens(tok, task, None) >= longest + 1


@pytest.mark.parametrize("name", [THREE, TEN])
def test_the_users_goldens_score_one_through_the_cli(origin_data: Path, workspace, name: str):
    rows = read_jsonl(origin_data / name)
    with replay_backend(rows):
        res = CliRunner().invoke(
            app,
            [
                *("--home", str(workspace.home), "eval", "--model", "base"),
                *("--data", str(origin_data / name), "--backend", "replay", "--json"),
            ],
        )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout.strip().splitlines()[-1])
    bench = data["benchmarks"][Path(name).stem]
    assert bench["n"] == len(rows)
    for metric in ("json_valid", "word_acc", "tiles_valid", "inventory_ok", "solved", "exact"):
        assert data["overall"][metric] == 1.0, metric
    assert set(bench["tiers"]) == {"easy", "medium", "hard"}
