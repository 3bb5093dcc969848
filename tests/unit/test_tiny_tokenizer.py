"""The scaffold tokenizer: short SYLLO puzzles, exact round trips, prompts that prefix answers."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pytest

from mentor.models.loader import load_tokenizer
from mentor.models.tiny import SIZES, train_tokenizer
from mentor.tasks.syllo import render as R
from mentor.tasks.syllo.generate import generate
from mentor.tasks.syllo.scaffold import scaffold_strings, variable_text

# The demo's puzzles: easy tier over the 150 most frequent eligible words.
DEMO = SIZES["demo"]


@pytest.fixture(scope="module")
def demo_tok() -> Any:
    return train_tokenizer(DEMO.vocab, 0, tier=DEMO.corpus_tier, pool=DEMO.corpus_pool)


def _lengths(tok: Any, rows: list[dict[str, Any]]) -> tuple[list[int], list[int]]:
    """Prompt and answer tokens of each row as training renders it (chat template)."""
    prompts, answers = [], []
    for r in rows:
        msgs = r["messages"]
        prompt = tok.apply_chat_template(
            msgs[:1], tokenize=False, add_generation_prompt=True, enable_thinking=False
        )
        full = tok.apply_chat_template(msgs, tokenize=False)
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        f = tok(full, add_special_tokens=False)["input_ids"]
        assert f[: len(p)] == p, "a token crosses from the prompt into the answer"
        assert tok.decode(f) == full
        prompts.append(len(p))
        answers.append(len(f) - len(p))
    return prompts, answers


def test_demo_puzzle_is_short(demo_tok: Any) -> None:
    rows = generate(40, 5, tier="easy", vocab_size=DEMO.corpus_pool)
    prompts, answers = _lengths(demo_tok, rows)
    # Before the spans and the demo corpus: 200 + 182 tokens (p50); measured now: 96.5 + 76.
    assert statistics.median(prompts) <= 105, statistics.median(prompts)
    assert statistics.median(answers) <= 85, statistics.median(answers)
    assert max(p + a for p, a in zip(prompts, answers, strict=True)) <= 240


def test_xs_puzzles_are_short(tiny_model_dir: Path) -> None:
    tok = load_tokenizer(tiny_model_dir)
    prompts, answers = _lengths(tok, generate(40, 5, tier="easy", vocab_size=150))
    # 353.5 before the spans (p50 of the same puzzles), 209 now
    assert statistics.median(prompts) + statistics.median(answers) <= 225


@pytest.mark.parametrize("kind", ["mixed", "levels"])
def test_every_tier_and_answer_shape_round_trips(demo_tok: Any, tiny_model_dir: Path, kind: str):
    rows = generate(30, 11, tier=kind, variants=kind == "levels", exclude_benchmarks=False)
    for tok in (demo_tok, load_tokenizer(tiny_model_dir)):
        _lengths(tok, rows)  # asserts the exact round trip and the prompt prefix
        for r in rows:
            for m in r["messages"]:
                ids = tok(m["content"], add_special_tokens=False)["input_ids"]
                assert tok.decode(ids) == m["content"]


def test_fixed_spans_become_single_tokens(demo_tok: Any) -> None:
    row = generate(1, 3, tier="easy", vocab_size=DEMO.corpus_pool)[0]
    prompt, answer = (m["content"] for m in row["messages"])
    pieces = [
        demo_tok.decode([i])
        for i in demo_tok(prompt + answer, add_special_tokens=False)["input_ids"]
    ]
    rules = "\n".join(R.RULES_FIXED)
    assert any(rules in p for p in pieces)  # three rule lines and their joins: one token
    assert any("\n".join(R.CONTRACT[:3]) in p for p in pieces)
    assert '": 1, "' in pieces
    # a clue line's number and slots are one token, and so is its answer entry's opening
    assert "\n2. " + R.slots(len(row["metadata"]["words"][1]["syllables"])) + R.CLUE_SEP in pieces
    assert '"}, {"ans_num": 2, "syllables": ["' in pieces
    # what is left for BPE is the puzzle's own content: no fixed line survives in it
    left = "".join(variable_text(prompt + answer))
    assert R.INTRO not in left and R.BANK_HEAD not in left and "inventory_check" not in left
    assert all(s for s in scaffold_strings())
