"""SYLLO CLI: generate, check, score, bench list (CliRunner on mentor.cli.app)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mentor.cli import app
from mentor.tasks.syllo import scaffold_strings
from mentor.tasks.syllo.scaffold import corpus

runner = CliRunner()


def test_generate_check_score_and_bench_list(tmp_path: Path) -> None:
    data = tmp_path / "p.jsonl"
    r = runner.invoke(
        app,
        [
            "syllo",
            "generate",
            "--tier",
            "mixed",
            "--count",
            "12",
            "--seed",
            "3",
            "--out",
            str(data),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["count"] == 12
    r = runner.invoke(app, ["syllo", "check", str(data)])
    assert r.exit_code == 0 and "0 problem(s)" in r.stdout

    rows = [json.loads(x) for x in data.read_text().splitlines()]
    bad = dict(rows[1])
    bad["messages"] = [rows[1]["messages"][0], {"role": "assistant", "content": "{}"}]
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(rows[0]) + "\n" + json.dumps(bad) + "\n")
    r = runner.invoke(app, ["syllo", "check", str(broken)])
    assert r.exit_code == 1 and f"{broken}:2:" in r.stdout

    pred = tmp_path / "pred.jsonl"
    outs = [row["messages"][1]["content"] for row in rows]
    outs[0] = "garbage"
    pred.write_text("".join(json.dumps({"output": o}) + "\n" for o in outs))
    r = runner.invoke(app, ["syllo", "score", "--data", str(data), "--pred", str(pred), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["overall"]["n"] == 12 and abs(res["overall"]["solved"] - 11 / 12) < 1e-3
    assert set(res["tiers"]) == {"easy", "medium", "hard"}
    r = runner.invoke(app, ["syllo", "score", "--data", str(data), "--pred", str(pred)])
    assert r.exit_code == 0 and "overall" in r.stdout

    pred.write_text(json.dumps({"output": "x"}) + "\n")
    r = runner.invoke(app, ["syllo", "score", "--data", str(data), "--pred", str(pred)])
    assert r.exit_code != 0

    r = runner.invoke(app, ["bench", "list", "--json"])
    assert r.exit_code == 0
    names = {b["name"] for b in json.loads(r.stdout)["benchmarks"]}
    assert "syllo_probe_8" in names and "syllo_levels_10x20" in names


def test_scaffold_strings_and_corpus() -> None:
    s = scaffold_strings()
    assert " ___" in s and " — " in s and " | " in s
    assert '{"solutions": [{"ans_num": ' in s and '"], "answer": "' in s
    assert "All syllable tiles accounted for exactly once." in s
    texts = corpus(6, 1)
    assert len(texts) == 6 and all(t.startswith("SYLLO Puzzle ") for t in texts)
    joined = "\n".join(texts)
    assert '{"solutions": [{"ans_num": ' in joined and ', "syllables": [' in joined
