"""Chat-data augmentation (system-prompt variation) and ``mentor augment`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mentor import config as config_mod
from mentor.cli import app
from mentor.config import AugmentConfig, Config
from mentor.data.augment import augment_file, augment_rows, load_system_prompts
from mentor.errors import ConfigError, DataError, WorkspaceError
from mentor.tasks.syllo.generate import generate

runner = CliRunner()
PROMPTS = ["You are terse.", "You are a patient tutor.", "Answer like a pirate."]


def _chat(i: int, system: str | None = None) -> dict:
    msgs = [
        {"role": "user", "content": f"question {i}"},
        {"role": "assistant", "content": f"answer {i}"},
    ]
    if system is not None:
        msgs.insert(0, {"role": "system", "content": system})
    return {"messages": msgs, "metadata": {"id": i}}


def test_system_prompt_variation_keeps_the_datas_own_system_turns() -> None:
    rows = [_chat(0), _chat(1, "Data's own prompt."), _chat(2)]
    rows.append({"prompt": "p?", "completion": "c."})
    rows.append({"text": "plain text"})
    cfg = AugmentConfig(ops=["system_prompt"], factor=3, system_prompts=PROMPTS, seed=4)
    out, rep = augment_rows(rows, cfg)
    assert out[0] == rows[0] and rows[1]["messages"][0]["content"] == "Data's own prompt."
    owned = [r for r in out if r.get("metadata", {}).get("id") == 1]
    assert owned == [rows[1]]  # kept as given, never copied
    for i in (0, 2):
        copies = [r for r in out if r.get("metadata", {}).get("id") == i][1:]
        systems = [r["messages"][0]["content"] for r in copies]
        assert sorted(systems) == sorted(PROMPTS)  # three copies, three different prompts
        for r in copies:
            assert r["messages"][1:] == rows[i]["messages"]
            assert r["metadata"]["augment"] == {
                "source_index": i,
                "seed": 4,
                "ops": ["system_prompt"],
            }
    pc = [r for r in out if "messages" in r and r["messages"][-1]["content"] == "c."]
    assert len(pc) == 3 and all(r["messages"][0]["role"] == "system" for r in pc)
    assert rep.recipes["system_prompt"].rejected == {
        "row has its own system prompt": 3,
        "not a chat row": 3,
    }
    again, _ = augment_rows(rows, cfg)
    assert again == out


def test_system_prompts_come_from_the_config_and_a_file(tmp_path: Path) -> None:
    (tmp_path / "sp.txt").write_text("From the file.\n\nYou are terse.\n")
    cfg = AugmentConfig(system_prompts=["You are terse."], system_prompts_file="sp.txt")
    assert load_system_prompts(cfg, tmp_path) == ["You are terse.", "From the file."]
    src = tmp_path / "chat.jsonl"
    src.write_text(json.dumps(_chat(0)) + "\n")
    cfg = Config()
    cfg.data.augment.ops = ["system_prompt"]
    cfg.data.augment.factor = 2
    cfg.data.augment.system_prompts = PROMPTS
    rep = augment_file(src, tmp_path / "out.jsonl", cfg)  # the daemon passes its whole Config
    assert rep.rows_out == 3 and rep.to_dict()["recipes"]["system_prompt"]["written"] == 2


def test_cli_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MENTOR_HOME")  # no workspace: the config defaults apply
    monkeypatch.chdir(tmp_path)
    src, dst = tmp_path / "src.jsonl", tmp_path / "out.jsonl"
    rows = [*generate(6, 3, tier="mixed"), _chat(9)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "sp.txt").write_text("\n".join(PROMPTS) + "\n")
    args = ["augment", str(src), "--out", str(dst), "--factor", "4", "--seed", "2"]
    args += ["--ops", "shuffle_clues+shuffle_bank,paraphrase+typos,variants,system_prompt"]
    args += ["--system-prompts", str(tmp_path / "sp.txt")]
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["rows_in"] == 7 and rep["originals"] == 7
    assert rep["rows_out"] == len(dst.read_text().splitlines()) == 7 + rep["augmented"]
    chat_recipes = rep["recipes"]["shuffle_clues+shuffle_bank"]["rejected"]
    assert chat_recipes == {"not a usable SYLLO row: not a SYLLO prompt": 1}
    syllo_only = tmp_path / "syllo.jsonl"
    syllo_only.write_text("".join(x + "\n" for x in dst.read_text().splitlines() if "SYLLO" in x))
    r = runner.invoke(app, ["syllo", "check", str(syllo_only)])
    assert r.exit_code == 0 and "0 problem(s)" in r.stdout
    r = runner.invoke(app, args)  # the table
    assert r.exit_code == 0 and "system_prompt" in r.stdout and "rows out" in r.stdout
    r = runner.invoke(app, [*args[:4], "--ops", "shuffle,typos"])
    assert isinstance(r.exception, ConfigError) and "'shuffle' is not a recipe" in str(r.exception)
    r = runner.invoke(app, ["augment", str(src), "--out", str(src)])
    assert isinstance(r.exception, DataError) and "overwrite the input" in str(r.exception)


def test_cli_reads_the_workspace_config(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    cfg = Config()
    cfg.data.augment.ops = ["shuffle_bank"]
    cfg.data.augment.factor = 2
    (home / "mentor.yaml").write_text(config_mod.commented_yaml(cfg))
    src, dst = tmp_path / "src.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in generate(3, 1)))
    r = runner.invoke(app, ["--home", str(home), "augment", str(src), "--out", str(dst), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert list(rep["recipes"]) == ["shuffle_bank"] and rep["augmented"] == 6
    r = runner.invoke(
        app, ["--home", str(tmp_path / "none"), "augment", str(src), "--out", str(dst)]
    )
    assert isinstance(r.exception, WorkspaceError)  # a named workspace must be one
