"""``mentor tune`` on the tiny model: a pruned trial, a search killed mid-trial that resumes to N
finished trials, and trials that train copies while the live lineage stays byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from mentor import config as config_mod
from mentor.paths import Workspace
from mentor.tasks.syllo.generate import generate
from mentor.train import train_file
from mentor.tune import SearchOptions, run_search

# Small and fast: 4 held-out rows scored after every step, 4 report points per trial.
SETS = {
    "training.max_length": 512,
    "training.batch_size": 2,
    "training.grad_accum": 1,
    "training.warmup_steps": 0,
    "training.lora_r": 4,
    "training.lora_alpha": 8,
    "training.save_steps": 1000,
    "data.holdout_fraction": 0.25,
    "tune.val_every": 1,
    "tune.report_points": 4,
    "tune.pruner_startup_trials": 1,
}


def _data(tmp_path: Path, name: str, seed: int, n: int = 16) -> Path:
    f = tmp_path / name
    f.write_text("".join(json.dumps(r) + "\n" for r in generate(n, seed, tier="easy")))
    return f


def _tree_hashes(*roots: Path) -> dict[str, str]:
    out = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in files:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _live(ws: Workspace) -> dict[str, str]:
    """Everything of the live workspace a trial must never change."""
    db_files = [p for p in ws.home.glob("state.db*") if p.is_file()]
    return _tree_hashes(ws.home / "model", ws.versions, ws.config_file, *db_files)


def _tune(ws: Workspace, *args: str) -> list[str]:
    sets = [x for k, v in SETS.items() for x in ("--set", f"{k}={v}")]
    return [sys.executable, "-m", "mentor", "--home", str(ws.home), "tune", *args, *sets]


@pytest.mark.slow
def test_search_prunes_a_hopeless_trial_and_resumes_after_a_kill(workspace, tmp_path: Path) -> None:
    data = _data(tmp_path, "easy.jsonl", 7)
    space = tmp_path / "space.yaml"
    # Queued first, in this order: a learning trial; the same settings again (killed mid-way);
    # a learning rate too small to move the loss, worse than the first at every report: pruned.
    space.write_text(
        "training.learning_rate: {low: 1.0e-3, high: 1.0e-2, log: true}\n"
        "first_trials:\n"
        "  - {training.learning_rate: 1.0e-2}\n"
        "  - {training.learning_rate: 1.0e-2}\n"
        "  - {training.learning_rate: 1.0e-7}\n"
    )
    before = _live(workspace)
    cmd = _tune(workspace, "--data", str(data), "--space", str(space), "--study", "s")
    cmd += ["--trials", "3", "--set", "tune.baseline_first=false"]
    storage = f"sqlite:///{workspace.tune_db('s')}"

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 900
    trial1 = workspace.tune_trial("s", 1)
    while not list(trial1.glob("runs/*/meta.json")):  # trial 1 is training
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "trial 1 never started"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    study = optuna.load_study(study_name="s", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "RUNNING", "WAITING"]

    r = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout)
    assert result["done"] == 3 and result["trials_wanted"] == 3
    study = optuna.load_study(study_name="s", storage=storage)
    t = study.trials
    assert [x.state.name for x in t[:3]] == ["COMPLETE", "FAIL", "PRUNED"]
    assert t[3].state.name in ("COMPLETE", "PRUNED") and len(t) == 4
    # the killed trial is not counted; its settings ran again as trial 3
    assert t[1].user_attrs["note"].startswith("killed mid-trial")
    assert t[3].user_attrs["retry_history"] == [1] and t[3].params == t[1].params
    # the pruned trial had the tiny learning rate, was worse than trial 0 where it stopped, and
    # stopped early
    assert t[2].params["training.learning_rate"] == pytest.approx(1e-7)
    k = max(t[2].intermediate_values)
    assert t[2].intermediate_values[k] > t[0].intermediate_values[k]
    assert t[2].user_attrs["steps"] < t[0].user_attrs["steps"]
    assert "pruned at" in t[2].user_attrs["note"]
    # the best settings as a patch, against mentor.yaml (learning_rate 2e-4 there)
    patch = yaml.safe_load(Path(result["patch_file"]).read_text())
    assert patch == {"training": {"learning_rate": 0.01}}
    assert result["best"]["number"] in (0, 3)
    assert _live(workspace) == before  # no lineage here: the workspace's files are untouched


@pytest.mark.slow
def test_trials_train_copies_of_the_lineage_and_leave_the_live_one_untouched(
    workspace, tmp_path: Path
) -> None:
    cfg = config_mod.build(
        config_mod.read_yaml(workspace.config_file), [f"{k}={v}" for k, v in SETS.items()]
    )
    live = train_file(workspace, cfg, _data(tmp_path, "a.jsonl", 1, n=8))
    assert live.status == "completed"
    state = json.loads((workspace.current / "mentor_state.json").read_text())
    before = _live(workspace)
    assert any("adapter_model" in k for k in before)

    space = tmp_path / "space.yaml"
    space.write_text("training.grad_accum: [1, 2]\n")
    result = run_search(
        workspace,
        cfg,
        SearchOptions(
            data=_data(tmp_path, "b.jsonl", 2, n=8),
            trials=2,
            space_file=space,
            study="copy",
            pruner="none",
        ),
    )
    assert _live(workspace) == before
    assert result.continuing and result.done == 2
    assert result.trials[0].number == 0 or result.trials[1].number == 0
    for row in result.trials:
        assert row.state == "complete" and row.value is not None
        scratch = workspace.tune_trial("copy", row.number)
        (meta_file,) = scratch.glob("runs/*/meta.json")
        meta = json.loads(meta_file.read_text())
        # each trial continued the live lineage's copy: same lineage, from its global step
        assert meta["lineage_id"] == state["lineage_id"]
        assert meta["global_step_start"] == live.global_step
        assert not (scratch / "model").exists()  # weights dropped after the trial
    baseline = next(r for r in result.trials if r.number == 0)
    assert baseline.params == {"training.grad_accum": 1}  # the current settings ran first


class _TermAtFirstStep:
    """SearchEvents that sends this process SIGTERM at the first step of the first trial (inside
    train_file, whose own handler turns it into a checkpointed stop)."""

    def __init__(self) -> None:
        self.sent = False

    def note(self, text: str) -> None: ...
    def trial_started(self, number: int, params: dict) -> None: ...
    def trial_finished(self, row: object) -> None: ...

    def trial_progress(self, number: int, p: dict) -> None:
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.slow
def test_a_search_stopped_by_sigterm_queues_the_trial_again_and_resumes(
    workspace, tmp_path: Path
) -> None:
    cfg = config_mod.build(
        config_mod.read_yaml(workspace.config_file), [f"{k}={v}" for k, v in SETS.items()]
    )
    data = _data(tmp_path, "c.jsonl", 3, n=8)
    space = tmp_path / "space.yaml"
    space.write_text("training.learning_rate: {low: 1.0e-3, high: 1.0e-2, log: true}\n")
    opts = SearchOptions(data=data, trials=1, space_file=space, study="term", pruner="none")
    first = run_search(workspace, cfg, opts, _TermAtFirstStep())
    assert first.stopped and first.done == 0
    (stopped,) = [r for r in first.trials if r.state == "fail"]
    assert stopped.note.startswith("stopped") and stopped.steps >= 1
    (queued,) = [r for r in first.trials if r.state == "waiting"]
    assert queued.params == stopped.params

    again = run_search(workspace, cfg, opts)
    assert again.stopped is None and again.done == 1
    (done,) = [r for r in again.trials if r.state == "complete"]
    assert done.number == queued.number and done.params == stopped.params
