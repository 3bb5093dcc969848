"""Evaluators on crafted outputs; task sizing; lessons 9-12 (see spec/lessons.md).

Rows come from mentor's SYLLO generator in the users' two shapes (``helpers.syllo_rows``); the
same checks on the users' own rows are in ``tests/compat/test_eval_compat.py``."""

from __future__ import annotations

import json
import math

import pytest

from helpers.syllo_rows import ten_level_rows, three_tier_rows
from mentor.config import Config
from mentor.evals import evaluators as ev
from mentor.evals.tasks import (
    Item,
    benchmark_task,
    data_task,
    items_from_rows,
    size_max_new_tokens,
    subset,
    task_max_new_tokens,
)
from mentor.tasks.syllo import generate


def test_syllo_evaluator_layers():
    item = items_from_rows(three_tier_rows(1))[0]
    s = ev.get("syllo")
    assert all(v == 1.0 for v in s.score(item, item.golden).values())
    # Lesson 9: not one brittle string compare. Reformatted JSON with a think block still solves.
    gold = json.loads(item.golden)
    pretty = "<think>\n\n</think>\n\n```json\n" + json.dumps(gold, indent=2) + "\n```"
    assert s.score(item, pretty)["solved"] == 1.0
    # one wrong word: partial credit, not solved
    gold["solutions"][0]["answer"] = "WRONG"
    bad = s.score(item, json.dumps(gold))
    assert bad["solved"] == 0.0 and 0.0 < bad["word_acc"] < 1.0 and bad["json_valid"] == 1.0
    none = s.score(item, "no json here")
    assert none == {k: 0.0 for k in ev.SylloEvaluator.KEYS}


def test_exact_match_normalises():
    item = Item(
        "a",
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "The Eiffel Tower."}],
        "The Eiffel Tower.",
    )
    e = ev.get("exact_match")
    assert e.score(item, "eiffel   tower") == {"exact": 1.0, "f1": 1.0}
    r = e.score(item, "the tower of pisa")
    assert r["exact"] == 0.0
    # tokens: [tower, of, pisa] vs [eiffel, tower]: 1 shared -> P=1/3, R=1/2
    assert r["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert ev.normalize("An  apple, the pie!") == "apple pie"


def test_evaluator_choice_by_data():
    assert data_task(three_tier_rows(3), "x").evaluators == ["syllo"]
    assert data_task(ten_level_rows(), "y").evaluators == ["syllo"]
    generic = [
        {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
    ]
    assert data_task(generic, "g").evaluators == ["exact_match", "perplexity"]


def test_items_ids_are_row_ids_and_unique():
    # Lesson 12: held-out items are identified by their own ids (pairing, contamination checks);
    # a repeated id is never merged silently.
    rows = three_tier_rows(3)
    items = items_from_rows(rows + rows[:1])
    assert [i.id for i in items[:3]] == [r["metadata"]["puzzle_id"] for r in rows]
    assert items[3].id == rows[0]["metadata"]["puzzle_id"] + "#2"
    assert [i.tier for i in items[:3]] == ["easy", "medium", "hard"]
    flat = ten_level_rows()  # prompt/solution rows: id, tier and golden at the top level
    items = items_from_rows(flat)
    assert [i.id for i in items] == [r["puzzle_id"] for r in flat]
    assert [i.tier for i in items] == [r["difficulty"] for r in flat]
    assert [i.golden for i in items] == [r["solution"] for r in flat]
    nameless = [{"messages": r["messages"]} for r in rows]  # no id: a hash of the prompt
    ids = [i.id for i in items_from_rows(nameless)]
    assert ids == [i.id for i in items_from_rows(list(reversed(nameless)))][::-1]
    assert len(set(ids)) == 3 and all(i.startswith("h") for i in ids)


def test_max_new_tokens_covers_longest_hard_golden(tiny_model_dir):
    # Lesson 11: caps of 200-300 cut medium/hard answers. The default is sized to the task.
    from mentor.models.loader import load_tokenizer

    tok = load_tokenizer(tiny_model_dir)
    task = benchmark_task("syllo_easy_100")
    cap = task_max_new_tokens(tok, task, None)
    hard = benchmark_task("syllo_hard_100").items
    rows = generate(6, 8, tier="hard", exclude_benchmarks=False)
    sample_hard = items_from_rows(rows)
    longest = max(
        len(tok(i.golden, add_special_tokens=False)["input_ids"]) for i in hard + sample_hard
    )
    assert cap >= longest + 1
    sample_cap = task_max_new_tokens(tok, data_task(rows, "s"), None)
    assert sample_cap >= longest + 1
    assert task_max_new_tokens(tok, task, 64) == 64
    assert size_max_new_tokens(tok, ["x" * 10]) >= 11


def test_quick_subset_is_fixed_and_per_tier():
    task = benchmark_task("syllo_medium_100")
    a, b = subset(task, 5), subset(task, 5)
    assert [i.id for i in a.items] == [i.id for i in b.items]
    assert len(a.items) == 5 and a.version == task.version


def test_perplexity_counts_every_assistant_token_only(tiny_model_dir):
    # Lesson 10: no truncation, completion tokens only, padding-invariant.
    import torch

    from mentor.data.chat import ChatRenderer
    from mentor.engine.hf import HFEngine
    from mentor.models.loader import load_model, load_tokenizer

    cfg = Config()
    tok = load_tokenizer(tiny_model_dir)
    eng = HFEngine(
        load_model(tiny_model_dir, dtype="float32", device="cpu"),
        tok,
        ChatRenderer.from_config(tok, cfg.chat),
    )
    long_answer = " ".join(["syllable tiles answer bank"] * 150)
    rows = [
        {
            "messages": [
                {"role": "user", "content": "short?"},
                {"role": "assistant", "content": "yes"},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "long?"},
                {"role": "assistant", "content": long_answer},
            ]
        },
    ]
    items = data_task(rows, "p").items
    p = ev.get("perplexity")
    together = p.compute(eng, items, batch_size=2)
    alone = [p.compute(eng, [it], batch_size=1)[0] for it in items]
    for a, b in zip(together, alone, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    # the long item's count is the full answer + end-of-turn, beyond 512 tokens
    r = eng.renderer.render(items[1].messages)
    span_text = r.text[r.spans[0][0] : r.spans[0][1]]
    n_answer = len(tok(span_text, add_special_tokens=False)["input_ids"])
    assert together[1]["_tokens"] == n_answer > 512
    # manual loss of the short item
    r0 = eng.renderer.render(items[0].messages)
    enc = tok(r0.text, add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        logits = eng.model(**enc).logits[0]
    n = int(together[0]["_tokens"])
    tail = len(
        tok(r0.text[r0.spans[0][1] :], add_special_tokens=False)["input_ids"]
    )  # "\n" after <|im_end|>
    ids = enc["input_ids"][0]
    end = len(ids) - tail
    manual = torch.nn.functional.cross_entropy(
        logits[end - n - 1 : end - 1], ids[end - n : end]
    ).item()
    assert together[0]["loss"] == pytest.approx(manual, rel=1e-4)
    agg = ev.aggregate(together)
    pooled = (together[0]["_nll_sum"] + together[1]["_nll_sum"]) / (
        together[0]["_tokens"] + together[1]["_tokens"]
    )
    assert agg["loss"] == pytest.approx(pooled)
    assert agg["perplexity"] == pytest.approx(math.exp(pooled))
