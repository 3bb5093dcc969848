"""The search space: defaults, the file format, every error at once, suggestions through Optuna."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from mentor.config import Config
from mentor.errors import ConfigError
from mentor.tune.space import LINEAGE_FIXED, Param, default_space, load_space, parse_space

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "space.yaml"
    f.write_text(text)
    return f


def test_default_spaces_round_trip_through_the_file_format(tmp_path: Path) -> None:
    fresh, going_on = default_space(False), default_space(True)
    assert {"training.learning_rate", "training.lora_r", "training.warmup_steps"} <= set(
        fresh.params
    )
    assert not set(going_on.params) & set(LINEAGE_FIXED)  # a lineage keeps those
    for continuing, space in ((False, fresh), (True, going_on)):
        again = load_space(_write(tmp_path, space.to_yaml()), Config(), continuing=continuing)
        assert again.params == space.params  # the defaults are valid space files
    # the users' Qwen3 defaults lie inside the new-lineage space (baseline trial possible)
    cfg = Config()
    for key, p in fresh.params.items():
        section, name = key.split(".")
        assert p.contains(getattr(getattr(cfg, section), name)), key


def test_every_problem_of_a_space_file_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    f = _write(
        tmp_path,
        "training.learning_rate: {low: 1e-5, high: 1e-3, log: true}\n"  # 1: lineage keeps it
        "training.seed: [1, 2]\n"  # 2: changes the held-out rows
        "training.bogus: [1]\n"  # 3: not a key
        "training.batch_size: {low: 4, high: 1}\n"  # 4: low > high
        "training.grad_accum: [1, 0]\n"  # 5: 0 is not a valid value
        "training.schedule: {low: 1, high: 2}\n"  # 6: a range on a non-numeric key
        "data.holdout_fraction: 0.5\n"  # 7: refused even as a fixed value
        "first_trials:\n  - {training.max_grad_norm: 1.0}\n",  # 8: not searched
    )
    with pytest.raises(ConfigError) as err:
        load_space(f, Config(), continuing=True)
    parts = str(err.value).split("; ")
    lines = sorted(int(p.split(":")[1]) for p in parts)
    assert lines == [1, 2, 3, 4, 5, 6, 7, 8], parts
    text = str(err.value)
    assert "--fresh" in text and "held out" in text and "not a config key" in text


def test_parse_infers_int_float_and_choices_and_keeps_fixed_values() -> None:
    raw = {
        "training.learning_rate": {
            "low": "1e-5",
            "high": 1e-3,
            "log": True,
        },  # PyYAML's 1e-5 is a str
        "training.warmup_steps": {"low": 0, "high": 100, "step": 20},
        "training.lora_r": [4, 8],
        "eval.val_every": 3,
    }
    space = parse_space(raw, Config(), continuing=False, source="s.yaml", lines={})
    assert space.params["training.learning_rate"] == Param(
        "training.learning_rate", "float", 1e-5, 1e-3, log=True
    )
    assert space.params["training.warmup_steps"].kind == "int"
    assert space.fixed == {"eval.val_every": 3}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        values = space.suggest(trial)
        assert values["eval.val_every"] == 3
        assert 1e-5 <= values["training.learning_rate"] <= 1e-3
        assert isinstance(values["training.warmup_steps"], int)
        assert values["training.warmup_steps"] % 20 == 0
        assert values["training.lora_r"] in (4, 8)
        study.tell(trial, 0.0)


def test_contains_respects_bounds_steps_and_types() -> None:
    ints = Param("training.warmup_steps", "int", 0, 100, step=20)
    assert ints.contains(40) and not ints.contains(50) and not ints.contains(120)
    floats = Param("training.learning_rate", "float", 1e-5, 1e-3, log=True)
    assert floats.contains(2e-4) and not floats.contains(2e-3) and not floats.contains("2e-4")
    assert Param("training.lora_r", "choice", choices=(8, 16)).contains(16)
    assert not Param("training.lora_r", "choice", choices=(8, 16)).contains(32)
