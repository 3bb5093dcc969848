"""mentor generate / chat / serve as a user meets them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mentor.cli import app
from mentor.errors import ConfigError, DataError
from mentor.serve.security import hash_key

runner = CliRunner()


def invoke(ws, *args: str, input: str | None = None):
    return runner.invoke(app, ["--home", str(ws.home), *args], input=input)


def test_generate_prompt_json(workspace):
    r = invoke(
        workspace, "generate", "--model", "base", "--prompt", "hello", "--max-tokens", "5", "--json"
    )
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout.strip().splitlines()[-1])
    assert obj["model"] == "base" and len(obj["results"]) == 1
    res = obj["results"][0]
    assert 1 <= res["tokens"] <= 5 and res["finish_reason"] in ("stop", "length")

    # greedy by default: same answer again, and the stream prints the same text
    again = invoke(
        workspace, "generate", "-m", "base", "-p", "hello", "--max-tokens", "5", "--json"
    )
    assert json.loads(again.stdout.strip().splitlines()[-1])["results"][0]["text"] == res["text"]
    streamed = invoke(
        workspace, "generate", "-m", "base", "-p", "hello", "--max-tokens", "5", "--stream"
    )
    assert streamed.exit_code == 0 and streamed.stdout.rstrip("\n") == res["text"]


def test_generate_file(workspace, tmp_path):
    f = tmp_path / "prompts.jsonl"
    rows = [{"prompt": "one"}, {"messages": [{"role": "user", "content": "two"}]}, "three"]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    r = invoke(workspace, "generate", "--file", str(f), "--max-tokens", "3", "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout.strip().splitlines()[-1])["results"]) == 3

    f.write_text('{"prompt": "ok"}\n{"nope": 1}\n')
    r = invoke(workspace, "generate", "--file", str(f))
    assert isinstance(r.exception, DataError) and ":2:" in str(r.exception)


def test_generate_needs_one_input(workspace):
    r = invoke(workspace, "generate")
    assert isinstance(r.exception, ConfigError)


def test_chat_session(workspace):
    script = "hello\n/model nowhere\n/model base\n/reset\nagain\n/quit\n"
    r = invoke(workspace, "chat", "--max-tokens", "4", input=script)
    assert r.exit_code == 0, r.output
    assert r.stdout.count("bot> ") == 2
    assert "conversation reset" in r.output and "nowhere" in r.output


def test_hash_key():
    r = runner.invoke(app, ["serve", "--hash-key", "--json"])
    assert r.exit_code == 0
    obj = json.loads(r.stdout)
    assert hash_key(obj["key"]) == obj["sha256"]


@pytest.mark.timeout(120)
def test_serve_refuses_open_bind_without_key(workspace):
    env = {k: v for k, v in os.environ.items() if k != "MENTOR_HOME"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mentor",
            "--home",
            str(workspace.home),
            "serve",
            "--host",
            "0.0.0.0",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == ConfigError.exit_code
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "api_keys" in lines[0] and "--hash-key" in lines[0]


def test_generate_and_test_model_keep_to_the_context(workspace, tiny_model_dir, tmp_path):
    """`--max-tokens 100000` ran past the context until killed: now it is clipped to what the
    context leaves (finish `length`), and a prompt that fills the context is one error line."""
    from helpers.short_context import short_context_model
    from mentor.engine.pool import PromptTooLong

    short = short_context_model(tiny_model_dir, tmp_path / "short", 40)
    model = ["--set", f"model.path={short}"]
    r = invoke(
        workspace, "generate", "-m", "base", "-p", "hi", "--max-tokens", "100000", "--json", *model
    )
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout.strip().splitlines()[-1])["results"][0]
    assert res["finish_reason"] == "length" and res["prompt_tokens"] + res["tokens"] == 40
    long = "word " * 60
    r = invoke(workspace, "generate", "-m", "base", "-p", long, *model)
    assert isinstance(r.exception, PromptTooLong)  # the CLI prints it as one line, exit 3
    assert "--prompt: the prompt is" in str(r.exception) and "context is 40 tokens" in str(
        r.exception
    )
    r = invoke(workspace, "test-model", "--model", "base", "--prompt", long, *model)
    assert isinstance(r.exception, PromptTooLong), r.output
