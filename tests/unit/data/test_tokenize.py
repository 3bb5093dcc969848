"""Loss masks: decoded labels are exactly the assistant content + end token (lessons 6, 7, 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mentor.data.chat import ChatRenderer
from mentor.data.packing import PackDataset, PackedCollator, pack_greedy
from mentor.data.tokenize import IGNORE_INDEX, ParsedFile, read_jsonl, tokenize_rows


@pytest.fixture(scope="module")
def tok(tiny_model_dir: Path):
    from mentor.models.loader import load_tokenizer

    return load_tokenizer(tiny_model_dir)


def _tokenized(renderer: ChatRenderer, rows: list) -> list[dict]:
    parsed = ParsedFile(
        path=Path("x.jsonl"), file_hash="0" * 64, rows=rows, lines=list(range(1, len(rows) + 1))
    )
    ds = tokenize_rows(renderer, parsed)
    return [ds[i] for i in range(len(ds))]


def _trained(tok, ids, labels) -> list[str]:
    """Decoded runs of consecutive trained tokens."""
    runs, cur = [], []
    for i, lab in zip(ids, labels, strict=True):
        if lab != IGNORE_INDEX:
            assert lab == i
            cur.append(i)
        elif cur:
            runs.append(tok.decode(cur))
            cur = []
    if cur:
        runs.append(tok.decode(cur))
    return runs


def test_single_turn_labels_are_answer_plus_end(tok) -> None:
    r = ChatRenderer(tok)
    row = [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": '{"answer": 4}'},
    ]
    (x,) = _tokenized(r, [row])
    assert _trained(tok, x["input_ids"], x["labels"]) == ['{"answer": 4}<|im_end|>']
    # the prompt (with the empty think block) carries no loss and equals the generation prompt
    text = tok.decode(x["input_ids"])
    assert text.startswith(r.prompt(row[:1]))
    assert "<think>\n\n</think>\n\n" not in _trained(tok, x["input_ids"], x["labels"])[0]


def test_multi_turn_all_and_last(tok) -> None:
    row = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello there"},
        {"role": "user", "content": "bye"},
        {"role": "assistant", "content": "goodbye"},
    ]
    (x,) = _tokenized(ChatRenderer(tok, train_on="all_assistant"), [row])
    assert _trained(tok, x["input_ids"], x["labels"]) == [
        "hello there<|im_end|>",
        "goodbye<|im_end|>",
    ]
    (y,) = _tokenized(ChatRenderer(tok, train_on="last_assistant"), [row])
    assert _trained(tok, y["input_ids"], y["labels"]) == ["goodbye<|im_end|>"]
    (z,) = _tokenized(ChatRenderer(tok, train_on="all"), [row])  # the prompt too
    assert _trained(tok, z["input_ids"], z["labels"]) == [tok.decode(z["input_ids"])]
    assert z["input_ids"] == x["input_ids"]


def test_puzzle_rows_answer_exact(tok, tmp_path: Path) -> None:
    """Every tier of mentor's SYLLO rows: the trained tokens are the answer + end token."""
    from mentor.tasks.syllo.generate import generate

    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in generate(6, 2, tier="mixed")))
    parsed = read_jsonl(f)
    ds = tokenize_rows(ChatRenderer(tok), parsed)
    for i in range(len(parsed.rows)):
        want = parsed.rows[i][-1]["content"] + "<|im_end|>"
        assert _trained(tok, ds[i]["input_ids"], ds[i]["labels"]) == [want]
    assert sum(ds["straddle"]) == 0


def test_packed_labels_exact_for_every_example(tok) -> None:
    """Lesson 8: packing must not break the mask of examples after the first."""
    r = ChatRenderer(tok)
    rows = [
        [
            {"role": "user", "content": f"q{i}"},
            {"role": "assistant", "content": f"answer number {i}"},
        ]
        for i in range(5)
    ]
    xs = _tokenized(r, rows)
    ids = [x["input_ids"] for x in xs]
    labels = [x["labels"] for x in xs]
    packs = pack_greedy(list(range(5)), [len(i) for i in ids], max_length=10_000)
    assert len(packs) == 1 and packs[0].rows == (0, 1, 2, 3, 4)
    batch = PackedCollator(tok.pad_token_id)([PackDataset(packs, ids, labels)[0]])
    assert "attention_mask" not in batch
    got = _trained(tok, batch["input_ids"][0].tolist(), batch["labels"][0].tolist())
    assert got == [f"answer number {i}<|im_end|>" for i in range(5)]
    pos = batch["position_ids"][0].tolist()
    starts = [k for k, p in enumerate(pos) if p == 0]
    assert starts[:5] == [0, *list(torch.tensor([len(i) for i in ids]).cumsum(0)[:4].tolist())]


def test_default_system_prompt_never_overwrites_and_has_no_date(tok) -> None:
    """Lesson 7: the default system prompt is added only where a row has none; no date."""
    from mentor.config import ChatConfig

    assert ChatConfig().default_system_prompt is None  # no date-stamped default
    r = ChatRenderer(tok, default_system_prompt="You solve SYLLO puzzles.")
    own = [
        {"role": "system", "content": "Own system."},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]
    bare = own[1:]
    assert "You solve SYLLO" not in r.render(own).text and "Own system." in r.render(own).text
    assert r.render(bare).text.startswith("<|im_start|>system\nYou solve SYLLO puzzles.<|im_end|>")
    assert r.prompt(bare[:1]).startswith("<|im_start|>system\nYou solve SYLLO puzzles.")


def test_plain_text_rows_trained_whole(tok, tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"text": "hello world"}) + "\n")
    parsed = read_jsonl(f)
    (x,) = [tokenize_rows(ChatRenderer(tok), parsed)[0]]
    assert _trained(tok, x["input_ids"], x["labels"]) == ["hello world<|im_end|>"]


def test_non_utf8_line_is_named_with_its_byte_offset(tmp_path: Path) -> None:
    """Defect 5: the line and the byte offset of the first byte that is not UTF-8; the other
    lines are still read."""
    good = json.dumps({"text": "fine"}).encode() + b"\n"
    bad = b'{"text": "caf\xe9"}\n'  # Latin-1, not UTF-8
    f = tmp_path / "latin.jsonl"
    f.write_bytes(good + good + bad + good)
    parsed = read_jsonl(f)
    assert len(parsed.rows) == 3 and parsed.n_lines == 4
    (err,) = parsed.errors
    col = bad.index(b"\xe9")
    assert err.startswith(f"{f}:3: not UTF-8 text at byte offset {2 * len(good) + col} ")
    assert f"(byte {col + 1} of the line" in err
