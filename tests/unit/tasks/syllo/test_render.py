"""SYLLO format: round trip and golden self-score on generated rows of every tier, level and
answer shape; each scorer layer caught by the perturbation aimed at it.

The same round trip on the users' own sample files is in ``tests/compat/test_syllo_compat.py``.
"""

from __future__ import annotations

import json

import pytest

from helpers.syllo_rows import ALL_SHAPES, ten_level_rows, three_tier_rows
from mentor.tasks.syllo import parse_prompt, render_answer, render_prompt, score, with_answers
from mentor.tasks.syllo.render import VARIANTS


def _rows():
    """(prompt, golden, words, variant, level) of 9 three-tier and 24 ten-level generated rows."""
    for r in three_tier_rows(9):
        msgs = r["messages"]
        yield msgs[0]["content"], msgs[1]["content"], r["metadata"]["words"], None, None
    for r in ten_level_rows(2 * ALL_SHAPES):
        yield r["prompt"], r["solution"], r["words"], r["output_variant"], r["level"]


def test_round_trip_and_self_score_on_generated_rows() -> None:
    tiers, levels, variants = set(), set(), set()
    for prompt, golden, words, variant, level in _rows():
        p = parse_prompt(prompt)
        assert render_prompt(p) == prompt
        assert p.variant == variant
        assert p.rule_range == ((4, 8) if level is None else (4, 10))
        full = with_answers(p, [w["syllables"] for w in words])
        assert render_answer(full, variant) == golden
        for gold in (golden, None):
            assert all(v == 1.0 for v in score(prompt, golden, gold).values()), (variant, gold)
        tiers.add(p.difficulty)
        variants.add(variant)
        levels.add(level)
    assert tiers == {"easy", "medium", "hard"}
    assert variants == {None, *VARIANTS}
    assert levels == {None, *range(1, 11)}


def _sample_with_herrings() -> tuple[str, str]:
    row = next(x for x in three_tier_rows(6) if x["metadata"]["red_herring_count"] > 0)
    return row["messages"][0]["content"], row["messages"][1]["content"]


def test_perturbations_hit_the_right_layer() -> None:
    prompt, golden = _sample_with_herrings()
    g = json.loads(golden)
    ok = score(prompt, golden, golden)
    assert ok == {k: 1.0 for k in ok}

    swapped = json.loads(golden)
    a, b = swapped["solutions"][0], swapped["solutions"][1]
    a["syllables"], b["syllables"] = b["syllables"], a["syllables"]
    a["answer"], b["answer"] = b["answer"], a["answer"]
    s = score(prompt, json.dumps(swapped), golden)
    assert s["word_acc"] < 1 and s["solved"] == 0 and s["tiles_valid"] == 1 and s["exact"] == 0

    missing = json.loads(golden)
    missing["solutions"][0]["syllables"] = missing["solutions"][0]["syllables"][:-1]
    s = score(prompt, json.dumps(missing), golden)
    assert s["tiles_valid"] == 0 and s["solved"] == 0 and s["word_acc"] == 1

    wrong_total = json.loads(golden)
    wrong_total["inventory_check"]["total_tiles"] += 1
    s = score(prompt, json.dumps(wrong_total), golden)
    assert s["inventory_ok"] == 0 and s["solved"] == 1 and s["exact"] == 0

    wrapped = f"Sure! Here it is:\n```json\n{golden}\n```\nHope this helps [really]."
    assert score(prompt, wrapped, golden)["exact"] == 1
    think = f"<think>\nlet me try {{not json}} [1, 2\n</think>\n\n{golden}"
    assert score(prompt, think, golden)["solved"] == 1
    truncated = golden[: len(golden) // 2]
    s = score(prompt, truncated, golden)
    assert s["json_valid"] == 0 and s["solved"] == 0
    assert score(prompt, "no json here", None) == {
        "json_valid": 0.0, "word_acc": 0.0, "tiles_valid": 0.0, "inventory_ok": 0.0, "solved": 0.0,
    }  # fmt: skip
    assert "exact" not in score(prompt, golden)
    # a status wording change is not an exact mismatch
    reworded = json.loads(golden)
    reworded["inventory_check"]["status"] = "done"
    assert score(prompt, json.dumps(reworded), golden)["exact"] == 1
    assert g["inventory_check"]["unused_tiles"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_shape_scores_and_detects_errors(variant: str) -> None:
    from mentor.tasks.syllo import generate

    row = generate(1, 5, tier="medium", exclude_benchmarks=False)[0]
    prompt = row["messages"][0]["content"]
    words = [w["syllables"] for w in row["metadata"]["words"]]
    full = with_answers(parse_prompt(prompt), words)
    good = render_answer(full, variant)
    assert all(v == 1.0 for v in score(prompt, good, good).values())
    assert all(v == 1.0 for v in score(prompt, good).values())
    bad = with_answers(parse_prompt(prompt), [words[1], words[0], *words[2:]])
    s = score(prompt, render_answer(bad, variant), good)
    assert s["solved"] == 0 and s["exact"] == 0
