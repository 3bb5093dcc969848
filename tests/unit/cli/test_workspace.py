"""``mentor config apply`` as a user meets it: the diff first, a dry run without a terminal,
--yes writes, an invalid patch lists every error and changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mentor import config as config_mod


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MENTOR_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "mentor", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,  # no terminal to ask on
        timeout=300,
    )


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "w"
    home.mkdir()
    (home / "mentor.yaml").write_text(config_mod.commented_yaml())
    return home


def test_apply_shows_the_diff_is_a_dry_run_without_a_terminal_and_writes_with_yes(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path)
    before = (home / "mentor.yaml").read_text()
    patch = tmp_path / "best.yaml"
    patch.write_text("# from mentor tune\ntraining:\n  learning_rate: 5.0e-05\n  grad_accum: 2\n")

    r = _run("--home", str(home), "config", "apply", str(patch))
    assert r.returncode == 0, r.stderr
    assert "-training.learning_rate: 0.0002" in r.stdout
    assert "+training.learning_rate: 5e-05" in r.stdout and "+training.grad_accum: 2" in r.stdout
    assert "dry run" in r.stdout
    assert (home / "mentor.yaml").read_text() == before

    r = _run("--home", str(home), "config", "apply", str(patch), "--yes", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["applied"] and out["comments_kept"]
    assert {c["key"]: c["new"] for c in out["changes"]} == {
        "training.learning_rate": 5e-05,
        "training.grad_accum": 2,
    }
    cfg = config_mod.load(home / "mentor.yaml")
    assert cfg.training.learning_rate == 5e-05 and cfg.training.grad_accum == 2
    assert "# Peak learning rate." in (home / "mentor.yaml").read_text()

    r = _run("--home", str(home), "config", "apply", str(patch))
    assert r.returncode == 0 and "nothing to change" in r.stdout


def test_apply_refuses_an_invalid_patch_with_every_error(tmp_path: Path) -> None:
    home = _home(tmp_path)
    before = (home / "mentor.yaml").read_text()
    patch = tmp_path / "bad.yaml"
    patch.write_text("training:\n  lora_r: -1\n  learning_rate: fast\neval.bogus: 1\n")
    r = _run("--home", str(home), "config", "apply", str(patch), "--yes")
    assert r.returncode == 2
    errors = r.stdout.strip().splitlines()
    assert len(errors) == 3
    assert errors[0].startswith(f"{patch}:2: training.lora_r:")
    assert errors[1].startswith(f"{patch}:3: training.learning_rate:")
    assert errors[2].startswith(f"{patch}:4: eval.bogus: unknown key")
    assert (home / "mentor.yaml").read_text() == before
