"""The users' own rows (``../shared/origin-data``) through mentor's training data path:
read, validated, and trained on their answers exactly. Skipped when the rows are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentor.config import Config
from mentor.data.chat import ChatRenderer
from mentor.data.tokenize import IGNORE_INDEX, read_jsonl, tokenize_rows
from mentor.data.validate import validate_file

SAMPLES = ("syllo_3tier_sample.jsonl", "syllo_10level_sample.jsonl")


@pytest.fixture(scope="module")
def tok(tiny_model_dir: Path):
    from mentor.models.loader import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@pytest.mark.parametrize("name", SAMPLES)
def test_their_rows_train_their_answers_exactly(tok, origin_data: Path, name: str) -> None:
    """Every row parses (extra keys such as ``metadata`` ignored) and its trained tokens are
    exactly its final answer + the end-of-turn token, with no token straddling the boundary."""
    parsed = read_jsonl(origin_data / name)
    assert not parsed.errors and len(parsed.rows) == parsed.n_lines > 0
    ds = tokenize_rows(ChatRenderer(tok), parsed)
    for i, row in enumerate(parsed.rows):
        labels, ids = ds[i]["labels"], ds[i]["input_ids"]
        trained = [t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE_INDEX]
        assert tok.decode(trained) == row[-1]["content"] + "<|im_end|>", i
    assert sum(ds["straddle"]) == 0


@pytest.mark.parametrize("name", SAMPLES)
def test_their_files_pass_validation(tok, origin_data: Path, name: str) -> None:
    cfg = Config()
    cfg.training.max_length = 4096
    rep = validate_file(None, cfg, origin_data / name, tokenizer=tok)
    assert rep.ok, rep.problems
    assert rep.empty_answer_count == 0 and rep.rows_trainable == rep.rows_total
