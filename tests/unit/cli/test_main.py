"""The CLI as a user meets it: --help, exit codes, one-line errors, init, config."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MENTOR = [sys.executable, "-m", "mentor"]


def run(
    *args: str, cwd: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "MENTOR_HOME"}
    full_env.update(env or {})
    return subprocess.run(
        [*MENTOR, *args], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=300
    )


def test_help_lists_the_commands():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("init", "config", "env", "model"):
        assert cmd in r.stdout


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("mentor ")


def test_no_workspace_is_one_line_with_the_fix(tmp_path: Path):
    r = run("config", "show", cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "mentor init" in lines[0] and "Traceback" not in r.stderr


def test_debug_shows_the_traceback(tmp_path: Path):
    r = run("--debug", "config", "show", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_unknown_option_is_a_usage_error():
    r = run("init", "--bogus")
    assert r.returncode == 2 and "No such option" in r.stderr


def test_config_show_and_validate(workspace):
    home = str(workspace.home)
    r = run("--home", home, "config", "show", "--json", "--set", "training.lora_r=8")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["training"]["lora_r"] == 8
    r = run("config", "validate", env={"MENTOR_HOME": home})
    assert r.returncode == 0 and "valid" in r.stdout
    with open(workspace.config_file, "a") as f:
        f.write("serve:\n  port: nope\n  colour: blue\n")
    r = run("--home", home, "config", "validate", "--json")
    assert r.returncode == 2
    assert len(json.loads(r.stdout)["errors"]) == 2


def test_home_from_current_directory(workspace):
    r = run("config", "show", "--json", cwd=workspace.home)
    assert r.returncode == 0, r.stderr


def test_env_reports_versions():
    r = run("env", "--json")
    assert r.returncode == 0
    info = json.loads(r.stdout)
    assert info["torch"] and info["transformers"] and info["peft"]


@pytest.mark.slow
def test_init_builds_a_workspace_that_loads_and_generates_and_refuses_a_second_init(tmp_path: Path):
    home = tmp_path / "w"
    r = run("init", str(home), "--model", "tiny")
    assert r.returncode == 0, r.stderr
    for sub in (
        "inbox",
        "data/done",
        "data/failed",
        "models/tiny",
        "model/current",
        "versions",
        "runs",
        "state.db",
    ):
        assert (home / sub).exists(), sub
    assert "# " in (home / "mentor.yaml").read_text()
    code = (
        "from mentor.paths import Workspace; from mentor import config;"
        "from mentor.models.loader import load_model, load_tokenizer;"
        f"ws=Workspace(__import__('pathlib').Path({str(home)!r})); cfg=config.load(ws.config_file);"
        "p=cfg.model_path(ws.home); tok=load_tokenizer(p); m=load_model(p);"
        "ids=tok('hello', return_tensors='pt');"
        "print(m.generate(**ids, max_new_tokens=4, do_sample=False).shape[1])"
    )
    g = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert g.returncode == 0, g.stderr
    assert int(g.stdout.strip()) > 1
    r = run("init", str(home), "--model", "tiny")
    assert r.returncode == 2 and "already exists" in r.stderr


def test_init_with_a_missing_model_names_the_path(tmp_path: Path):
    r = run("init", str(tmp_path / "w"), "--model", str(tmp_path / "nowhere"))
    assert r.returncode == 4
    assert str(tmp_path / "nowhere") in r.stderr and "not found" in r.stderr
    assert not (tmp_path / "w").exists()
