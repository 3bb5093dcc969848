"""The users' SYLLO sample files against mentor's parser, renderer and scorer.

Every row of ``syllo_3tier_sample.jsonl`` (50) and ``syllo_10level_sample.jsonl`` (100) must
parse, re-render byte for byte, rebuild its golden from its metadata and score 1.0 against
itself; the perturbations hit their layer on one of their own rows. Skipped (with the reason)
where ``../shared/origin-data`` is absent; the same checks on generated rows always run
(``tests/unit/tasks/syllo/test_render.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

from mentor.tasks.syllo import parse_prompt, render_answer, render_prompt, score, with_answers


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_round_trip_and_self_score_on_the_users_samples(origin_data: Path) -> None:
    triples = [
        (r["messages"][0]["content"], r["messages"][1]["content"], r["metadata"]["words"], None)
        for r in _rows(origin_data / "syllo_3tier_sample.jsonl")
    ] + [
        (r["prompt"], r["solution"], r["words"], r["output_variant"])
        for r in _rows(origin_data / "syllo_10level_sample.jsonl")
    ]
    for prompt, golden, words, variant in triples:
        p = parse_prompt(prompt)
        assert render_prompt(p) == prompt
        assert p.variant == variant
        full = with_answers(p, [w["syllables"] for w in words])
        assert render_answer(full, variant) == golden
        for gold in (golden, None):
            assert all(v == 1.0 for v in score(prompt, golden, gold).values()), (variant, gold)
    assert len(triples) == 150


def test_perturbations_on_a_users_row(origin_data: Path) -> None:
    rows = _rows(origin_data / "syllo_3tier_sample.jsonl")
    row = next(x for x in rows if x["metadata"]["red_herring_count"] > 0)
    prompt, golden = row["messages"][0]["content"], row["messages"][1]["content"]
    assert score(prompt, golden, golden) == dict.fromkeys(score(prompt, golden, golden), 1.0)
    swapped = json.loads(golden)
    a, b = swapped["solutions"][0], swapped["solutions"][1]
    a["syllables"], b["syllables"] = b["syllables"], a["syllables"]
    a["answer"], b["answer"] = b["answer"], a["answer"]
    s = score(prompt, json.dumps(swapped), golden)
    assert s["word_acc"] < 1 and s["solved"] == 0 and s["tiles_valid"] == 1 and s["exact"] == 0
    wrong_total = json.loads(golden)
    wrong_total["inventory_check"]["total_tiles"] += 1
    s = score(prompt, json.dumps(wrong_total), golden)
    assert s["inventory_ok"] == 0 and s["solved"] == 1 and s["exact"] == 0
