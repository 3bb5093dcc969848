"""``mentor tune`` without training: the space it would search, and the errors a user can fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mentor import config as config_mod
from mentor.tune.space import LINEAGE_FIXED


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MENTOR_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "mentor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_show_space_follows_the_lineage(tmp_path: Path) -> None:
    home = tmp_path / "w"
    (home / "model" / "current").mkdir(parents=True)
    (home / "mentor.yaml").write_text(config_mod.commented_yaml())

    r = _run("--home", str(home), "tune", "--show-space", "--json")
    assert r.returncode == 0, r.stderr
    new = json.loads(r.stdout)
    assert new["source"] == "default (new lineage)" and "training.learning_rate" in new["space"]

    (home / "model" / "current" / "adapter_config.json").write_text("{}")  # a live lineage
    going_on = json.loads(_run("--home", str(home), "tune", "--show-space", "--json").stdout)
    assert going_on["source"] == "default (continuing the lineage)"
    assert not set(going_on["space"]) & set(LINEAGE_FIXED)
    fresh = json.loads(
        _run("--home", str(home), "tune", "--show-space", "--fresh", "--json").stdout
    )
    assert fresh["space"] == new["space"]

    space = tmp_path / "space.yaml"
    space.write_text("training.lora_r: [8, 16]\n")
    r = _run("--home", str(home), "tune", "--data", "x.jsonl", "--space", str(space))
    assert r.returncode == 2 and f"{space}:1: training.lora_r: a continuing lineage" in r.stderr
    assert "--fresh" in r.stderr and "Traceback" not in r.stderr

    r = _run("--home", str(home), "tune", "--trials", "2")
    assert r.returncode == 2 and "--data" in r.stderr
