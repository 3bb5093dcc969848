"""Validation: whole file, templated lengths, refusals, report numbers (lesson 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mentor.config import Config
from mentor.data.chat import ChatRenderer
from mentor.data.validate import validate_file
from mentor.errors import DataError


@pytest.fixture(scope="module")
def tok(tiny_model_dir: Path):
    from mentor.models.loader import load_tokenizer

    return load_tokenizer(tiny_model_dir)


def _row(q: str, a: str) -> str:
    return json.dumps(
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
    )


def _cfg(max_length: int = 256) -> Config:
    cfg = Config()
    cfg.training.max_length = max_length
    return cfg


def test_schema_errors_whole_file_with_lines(tok, tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    lines = [_row(f"q{i}", f"a{i}") for i in range(150)]
    lines[149] = (
        '{"messages": [{"role": "user", "content": "no answer"}]}'  # line 150: past row 100
    )
    lines[120] = "{not json"
    f.write_text("\n".join(lines) + "\n")
    rep = validate_file(None, _cfg(), f, tokenizer=tok)
    assert not rep.ok
    assert rep.rows_total == 150 and rep.error_count == 2
    assert any(e.startswith(f"{f}:150: ") and "no assistant turn" in e for e in rep.errors)
    assert any(e.startswith(f"{f}:121: ") for e in rep.errors)
    with pytest.raises(DataError, match=r":121: "):
        rep.raise_if_refused()


def test_length_is_of_templated_text_and_overlength_refused(tok, tmp_path: Path) -> None:
    cfg = _cfg(max_length=40)
    cfg.chat.default_system_prompt = "You are a careful assistant who answers briefly. " * 2
    short = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]
    f = tmp_path / "d.jsonl"
    rows = [_row(f"q{i}", "a") for i in range(199)] + [json.dumps({"messages": short})]
    f.write_text("\n".join(rows) + "\n")
    rep = validate_file(None, cfg, f, tokenizer=tok)
    renderer = ChatRenderer.from_config(tok, cfg.chat)
    templated = len(tok(renderer.render(short).text, add_special_tokens=False)["input_ids"])
    naive = len(tok("user: hi\nassistant: ok", add_special_tokens=False)["input_ids"])
    assert naive < 40 < templated  # the role: content check would pass this row
    assert rep.dataset["length"][-1] == templated and rep.dataset["line"][-1] == 200
    assert rep.overlength_count == 200 and not rep.ok  # every row carries the system prompt
    assert "training.max_length" in rep.problems[-1]


def test_overlength_drop_quarantines_with_line_numbers(tok, tmp_path: Path, workspace) -> None:
    f = tmp_path / "mix.jsonl"
    long = "word " * 400
    rows = [_row("q", "a")] * 3 + [_row("q", long)] + [_row("q2", "b")]
    f.write_text("\n".join(rows) + "\n")
    rep = validate_file(workspace, _cfg(), f, tokenizer=tok)
    assert not rep.ok and rep.overlength == [{"line": 4, "tokens": rep.overlength[0]["tokens"]}]
    rep = validate_file(workspace, _cfg(), f, tokenizer=tok, on_overlength="drop")
    assert rep.ok and rep.rows_trainable == 4
    q = [json.loads(x) for x in Path(rep.quarantine).read_text().splitlines()]
    assert [x["line"] for x in q] == [4] and q[0]["row"]["messages"][1]["content"] == long
    assert rep.duplicates == 2 and rep.duplicate_lines[0] == [2, 1]
    assert rep.contamination == 0


def test_report_numbers(tok, tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text("\n".join(_row("q" * (i + 1), "a") for i in range(20)) + "\n")
    rep = validate_file(None, _cfg(), f, tokenizer=tok, tokens_per_s=100.0)
    d = rep.to_dict()
    assert d["ok"] and d["rows_trainable"] == 20
    lengths = list(rep.dataset["length"])
    assert rep.tokens == sum(lengths) and d["lengths"]["total"]["max"] == max(lengths)
    assert sum(b["count"] for b in d["histogram"]) == 20
    assert d["est_seconds"] == pytest.approx(sum(lengths) / 100.0, rel=0.01)
    json.dumps(d)  # serialisable for --json
    fast = validate_file(None, _cfg(), f, tokenizer=tok, tokens_per_s=1e7)
    assert 0 < fast.est_seconds == pytest.approx(sum(lengths) / 1e7, rel=0.01)  # never "0 s"


def test_contamination_found(tok, tmp_path: Path) -> None:
    from mentor.tasks.syllo import bench

    rows = bench.load_benchmark(bench.list_benchmarks()[0]["name"])[:2]
    f = tmp_path / "c.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n" + _row("q", "a") + "\n")
    rep = validate_file(None, _cfg(4096), f, tokenizer=tok)
    assert rep.contamination == 2 and rep.contamination_hits[0]["line"] == 1


def test_crashing_validation_does_not_train(workspace, tmp_path: Path, monkeypatch) -> None:
    """Never fail open: if the check itself raises, nothing is trained."""
    from mentor import config as config_mod
    from mentor.data import validate as vmod
    from mentor.store import connect
    from mentor.train import train_file

    f = tmp_path / "d.jsonl"
    f.write_text(_row("q", "a") + "\n")

    def boom(*a, **k):
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(vmod, "tokenize_rows", boom)
    cfg = config_mod.load(workspace.config_file)
    with pytest.raises(RuntimeError, match="exploded"):
        train_file(workspace, cfg, f)
    conn = connect(workspace.db)
    assert conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
    assert not (workspace.current / "mentor_state.json").exists()


def test_a_file_with_no_usable_row_is_refused_not_crashed(tok, workspace, tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text('{"bad": 1}\nnot json\n')
    rep = validate_file(workspace, _cfg(), f, tokenizer=tok)
    assert not rep.ok and rep.error_count == 2
    with pytest.raises(DataError, match=r"bad\.jsonl:1: "):
        rep.raise_if_refused()


def test_empty_or_blank_answers_refused_or_quarantined(tok, tmp_path: Path, workspace) -> None:
    """Defect 1: an answer that is empty or whitespace would train the end token alone; the
    file is refused naming the line, or with data.on_empty_answer=drop the rows go to the
    quarantine and are not trained."""
    f = tmp_path / "e.jsonl"
    multi = {
        "messages": [
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": " "},
            {"role": "user", "content": "q2"},
            {"role": "assistant", "content": "fine"},
        ]
    }
    rows = [_row("q", "a"), _row("q", ""), _row("q", " \n\t"), json.dumps(multi)]
    rows += [json.dumps({"text": "  "}), _row("q", "b")]
    f.write_text("\n".join(rows) + "\n")
    rep = validate_file(workspace, _cfg(), f, tokenizer=tok)
    assert not rep.ok and rep.empty_answer_count == 4 and rep.empty_answers == [2, 3, 4, 5]
    with pytest.raises(DataError, match=rf"{f}:2: the assistant answer is empty"):
        rep.raise_if_refused()
    cfg = _cfg()
    cfg.chat.train_on = "last_assistant"  # the blank first turn of line 4 is not trained then
    assert validate_file(None, cfg, f, tokenizer=tok).empty_answers == [2, 3, 5]
    cfg = _cfg()
    cfg.data.on_empty_answer = "drop"
    rep = validate_file(workspace, cfg, f, tokenizer=tok)
    assert rep.ok and rep.rows_trainable == 2
    assert [rep.parsed.lines[i] for i in rep.keep] == [1, 6]
    q = [json.loads(x) for x in Path(rep.quarantine_empty).read_text().splitlines()]
    assert [x["line"] for x in q] == [2, 3, 4, 5] and q[3]["row"] == {"text": "  "}
