"""The tiny model factory: deterministic, Qwen3-shaped, loads through the common loader; the
scaffold tokenizer: short SYLLO puzzles, exact round trips, prompts that prefix answers."""

from __future__ import annotations

import hashlib
import statistics
from pathlib import Path
from typing import Any

import pytest
import torch

from mentor.errors import ModelError
from mentor.models.chat_template import EMPTY_THINK
from mentor.models.loader import check_adapter_dir, load_model, load_tokenizer
from mentor.models.tiny import SIZES, build_tiny, train_tokenizer
from mentor.tasks.syllo import render as R
from mentor.tasks.syllo.generate import generate
from mentor.tasks.syllo.scaffold import scaffold_strings, variable_text


def digests(d: Path) -> dict[str, str]:
    return {
        f.name: hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(d.iterdir())
        if f.is_file()
    }


@pytest.mark.slow
def test_same_seed_same_files_other_seed_other_weights(tmp_path: Path, tiny_model_dir: Path):
    again = build_tiny(tmp_path / "again", size="xs", seed=0)
    assert digests(again) == digests(tiny_model_dir)
    other = build_tiny(tmp_path / "other", size="xs", seed=1)
    assert digests(other)["model.safetensors"] != digests(tiny_model_dir)["model.safetensors"]


def test_loads_as_qwen3_and_generates(tiny_model_dir: Path):
    model = load_model(tiny_model_dir, device="cpu")
    tok = load_tokenizer(tiny_model_dir)
    assert model.config.model_type == "qwen3"
    assert model.num_parameters() < 3_000_000
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert (
        out.shape[1] == ids["input_ids"].shape[1] + 5
        or tok.convert_tokens_to_ids("<|im_end|>") in out[0]
    )


def test_special_tokens_are_single_tokens(tiny_model_dir: Path):
    tok = load_tokenizer(tiny_model_dir)
    for t in ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>"):
        assert len(tok(t, add_special_tokens=False)["input_ids"]) == 1, t
    text = "SYLLO Puzzle x\nSyllable bank (shuffled):\nac | cept — ___ ___"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_chat_template_matches_qwen3_behaviour(tiny_model_dir: Path):
    tok = load_tokenizer(tiny_model_dir)
    msgs = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "<think>\nold reasoning\n</think>\n\na1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]
    full = tok.apply_chat_template(msgs, tokenize=False)
    # Earlier assistant turns lose their think blocks; the last one carries an empty block.
    assert "old reasoning" not in full
    assert full.endswith(f"<|im_start|>assistant\n{EMPTY_THINK}a2<|im_end|>\n")
    off = tok.apply_chat_template(
        msgs[:3], tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    on = tok.apply_chat_template(
        msgs[:3], tokenize=False, add_generation_prompt=True, enable_thinking=True
    )
    assert off.endswith(f"<|im_start|>assistant\n{EMPTY_THINK}")
    assert on.endswith("<|im_start|>assistant\n")
    assert full.startswith(off)
    thinking = tok.apply_chat_template(
        [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", "reasoning_content": "r"},
        ],
        tokenize=False,
    )
    assert thinking.endswith("<|im_start|>assistant\n<think>\nr\n</think>\n\na<|im_end|>\n")


def test_loader_names_what_is_missing(tmp_path: Path, tiny_model_dir: Path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "absent")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    with pytest.raises(ModelError, match=r"missing weights.*tokenizer"):
        load_model(broken)
    with pytest.raises(ModelError, match=r"adapter_config\.json"):
        check_adapter_dir(broken)


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
