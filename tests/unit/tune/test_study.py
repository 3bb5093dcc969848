"""The study on SQLite: one process per study, trials a dead process left running fail and run
again (a bounded number of times), only finished trials count."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from mentor.config import TuneConfig
from mentor.errors import ConfigError, JobError
from mentor.paths import Workspace
from mentor.tune import study as study_mod

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _open(ws: Workspace, name: str = "s") -> tuple[optuna.Study, object]:
    return study_mod.open_study(ws, name, TuneConfig(), pruner="median", seed=0)


def test_study_lives_in_the_workspace_and_resumes(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    study, _ = _open(ws)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert ws.tune_db("s").is_file()
    again, _ = _open(ws)  # another process would do the same: load_if_exists
    assert len(again.trials) == 2 and again.study_name == "s"
    assert study_mod.storage_url(ws, "s") == f"sqlite:///{ws.tune_db('s')}"


def test_a_trial_left_running_is_failed_and_its_settings_run_again(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    study, storage = _open(ws)
    done = study.ask()
    done.suggest_float("x", 0, 1)
    study.tell(done, 0.5)
    pruned = study.ask()
    pruned.suggest_float("x", 0, 1)
    study.tell(pruned, state=TrialState.PRUNED)
    killed = study.ask()  # the process dies here: the trial stays RUNNING in the database
    x = killed.suggest_float("x", 0, 1)
    del study

    study, storage = _open(ws)
    notes = study_mod.recover(study, storage, max_retries=1)
    assert len(notes) == 1 and "trial 2 was killed" in notes[0]
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.WAITING]
    assert study.trials[2].user_attrs["note"].startswith("killed mid-trial")
    assert study_mod.count_done(study) == 2  # the killed trial does not count

    # the retry gets the same settings; killed again, it is not retried a second time
    retry = study.ask()
    assert retry.number == 3 and retry.suggest_float("x", 0, 1) == x
    assert retry.user_attrs["retry_history"] == [2]
    study, storage = _open(ws)
    notes = study_mod.recover(study, storage, max_retries=1)
    assert "not retried" in notes[0]
    assert [t.state for t in study.trials][3:] == [TrialState.FAIL]


def test_one_process_per_study(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with study_mod.study_lock(ws, "s"):
        with (
            pytest.raises(JobError, match="being searched by another process"),
            study_mod.study_lock(ws, "s"),
        ):
            pass
        with study_mod.study_lock(ws, "other"):  # another study is free
            pass
    with study_mod.study_lock(ws, "s"):  # released on exit
        pass


def test_names() -> None:
    assert study_mod.default_name(Path("/x/my data.jsonl"), "0a8fb9d3ffff") == "my-data-0a8fb9d3"
    assert study_mod.check_name("easy-lr_2.1") == "easy-lr_2.1"
    for bad in ("", "../up", "a/b", "x" * 101):
        with pytest.raises(ConfigError):
            study_mod.check_name(bad)


def test_pruners() -> None:
    cfg = TuneConfig(report_points=8)
    assert isinstance(study_mod.make_pruner("median", cfg), optuna.pruners.MedianPruner)
    assert isinstance(study_mod.make_pruner("hyperband", cfg), optuna.pruners.HyperbandPruner)
    assert isinstance(study_mod.make_pruner("none", cfg), optuna.pruners.NopPruner)
    with pytest.raises(ConfigError):
        study_mod.make_pruner("asha", cfg)


def test_hyperband_prunes_on_the_report_points(tmp_path: Path) -> None:
    """The brackets run over tune.report_points: trials reporting worse losses at those points
    are stopped, some before their last one."""
    cfg = TuneConfig(report_points=9, hyperband_reduction_factor=3, sampler_startup_trials=0)
    study, _ = study_mod.open_study(Workspace(tmp_path), "hb", cfg, pruner="hyperband", seed=0)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        for k in range(1, cfg.report_points + 1):
            trial.report(x + 1 / k, k)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x

    study.optimize(objective, n_trials=12)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert any(max(t.intermediate_values) < cfg.report_points for t in pruned)
