"""ShareGPT, Alpaca and mapped rows: read like ``messages`` rows, masked to the assistant tokens
only, and refused with ``file:line`` when malformed (issue 13 item 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mentor.config import Config
from mentor.data.tokenize import IGNORE_INDEX
from mentor.data.validate import validate_file
from mentor.errors import ConfigError

SYSTEM, Q1, A1, Q2, A2 = "Be brief.", "Name a colour.", "Blue.", "Another?", "Red."
MESSAGES = {
    "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": Q1},
        {"role": "assistant", "content": A1},
        {"role": "user", "content": Q2},
        {"role": "assistant", "content": A2},
    ]
}
SHAREGPT = {
    "conversations": [
        {"from": "system", "value": SYSTEM},
        {"from": "human", "value": Q1},
        {"from": "gpt", "value": A1},
        {"from": "human", "value": Q2},
        {"from": "gpt", "value": A2},
    ]
}
MAPPED = {
    "dialog": [
        {"speaker": "system", "text": SYSTEM},
        {"speaker": "customer", "text": Q1},
        {"speaker": "bot", "text": A1},
        {"speaker": "customer", "text": Q2},
        {"speaker": "bot", "text": A2},
    ],
    "id": 7,
}
ALPACA = {"instruction": "Translate to French.", "input": "cat", "output": "chat", "system": SYSTEM}
ALPACA_AS_MESSAGES = {
    "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Translate to French.\n\ncat"},
        {"role": "assistant", "content": "chat"},
    ]
}


@pytest.fixture(scope="module")
def tok(tiny_model_dir: Path):
    from mentor.models.loader import load_tokenizer

    return load_tokenizer(tiny_model_dir)


def _mapped_cfg() -> Config:
    cfg = Config()
    cfg.data.fields = {"messages": "dialog", "role": "speaker", "content": "text"}
    cfg.data.roles = {"customer": "user", "bot": "assistant"}
    return cfg


def _validated(tok, tmp_path: Path, name: str, rows: list[dict], cfg: Config | None = None):
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return validate_file(None, cfg or Config(), path, tokenizer=tok)


def _trained_text(tok, rep, i: int = 0) -> list[str]:
    ids, labels = rep.dataset[i]["input_ids"], rep.dataset[i]["labels"]
    runs, cur = [], []
    for t, lab in zip(ids, labels, strict=True):
        if lab != IGNORE_INDEX:
            cur.append(t)
        elif cur:
            runs.append(tok.decode(cur))
            cur = []
    return [*runs, tok.decode(cur)] if cur else runs


@pytest.mark.parametrize(
    ("name", "row", "reference", "mapped"),
    [
        ("sharegpt", SHAREGPT, MESSAGES, False),
        ("mapped", MAPPED, MESSAGES, True),
        ("alpaca", ALPACA, ALPACA_AS_MESSAGES, False),
    ],
)
def test_each_format_trains_the_same_tokens_and_mask_as_messages(
    tok, tmp_path: Path, name: str, row: dict, reference: dict, mapped: bool
) -> None:
    cfg = _mapped_cfg() if mapped else Config()
    rep = _validated(tok, tmp_path, name, [row], cfg)
    ref = _validated(tok, tmp_path, "reference", [reference])
    assert rep.ok, rep.problems
    assert rep.dataset[0]["input_ids"] == ref.dataset[0]["input_ids"]
    assert rep.dataset[0]["labels"] == ref.dataset[0]["labels"]
    answers = [m["content"] for m in reference["messages"] if m["role"] == "assistant"]
    assert _trained_text(tok, rep) == [f"{a}<|im_end|>" for a in answers]
    # held-out rows and previews read the row back with its own keys and the messages trained
    back = rep.parsed.row_json(0)
    assert back["messages"] == reference["messages"]
    assert all(k in back for k in row)


def test_bad_rows_of_each_format_are_refused_with_file_and_line(tok, tmp_path: Path) -> None:
    good_share, good_alpaca = json.dumps(SHAREGPT), json.dumps(ALPACA)
    lines = [
        good_share,
        json.dumps({"conversations": [{"from": "robot", "value": "hi"}]}),  # 2: unknown role
        good_alpaca,
        json.dumps({"instruction": "Say hi."}),  # 4: no output
        json.dumps({"conversations": [{"from": "human", "value": "hi"}]}),  # 5: no answer
        json.dumps({"instruction": "x", "input": 3, "output": "y"}),  # 6: input not text
        json.dumps({"conversations": [{"from": "human"}]}),  # 7: no value
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rep = validate_file(None, Config(), path, tokenizer=tok)
    assert not rep.ok and rep.rows_valid == 2 and rep.error_count == 5
    expect = {
        2: "from='robot'",
        4: "needs 'output'",
        5: "no assistant turn",
        6: "'input' must be a string",
        7: "needs 'from' and 'value'",
    }
    for line, words in expect.items():
        assert any(e.startswith(f"{path}:{line}: ") and words in e for e in rep.errors), line


def test_mapped_rows_refused_with_file_and_line_and_bad_mappings_refused(
    tok, tmp_path: Path
) -> None:
    broken = {"dialog": [{"speaker": "customer", "words": "hi"}]}
    unmapped_role = {
        "dialog": [{"speaker": "alien", "text": "hi"}, {"speaker": "bot", "text": "x"}]
    }
    rep = _validated(tok, tmp_path, "m", [MAPPED, broken, unmapped_role], _mapped_cfg())
    assert rep.rows_valid == 1
    assert any(e.startswith(f"{tmp_path / 'm.jsonl'}:2: ") and "'text'" in e for e in rep.errors)
    assert any(e.startswith(f"{tmp_path / 'm.jsonl'}:3: ") and "'alien'" in e for e in rep.errors)
    # without the mapping the same row names what it lacks and where to map it
    plain = _validated(tok, tmp_path, "p", [MAPPED])
    assert "data.fields" in plain.errors[0] and plain.errors[0].startswith(f"{tmp_path}/p.jsonl:1")
    from mentor import config as config_mod

    with pytest.raises(ConfigError, match=r"data\.fields"):
        config_mod.build({"data": {"fields": {"dialogue": "x"}}})
    with pytest.raises(ConfigError, match=r"data\.roles"):
        config_mod.build({"data": {"roles": {"bot": "robot"}}})
