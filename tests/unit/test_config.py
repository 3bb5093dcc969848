from pathlib import Path

import pytest
import yaml

from mentor import config as config_mod
from mentor.errors import ConfigError


def test_defaults_are_the_users_habits():
    cfg = config_mod.Config()
    assert cfg.training.learning_rate == 2e-4
    assert cfg.training.warmup_steps == 100
    assert (cfg.training.batch_size, cfg.training.grad_accum) == (2, 8)
    assert cfg.training.lora_r == cfg.training.lora_alpha == 64
    assert cfg.training.lora_dropout == 0.05
    assert cfg.serve.host == "127.0.0.1"
    assert cfg.eval.live_every == 10


def test_overrides_are_typed_and_nested():
    cfg = config_mod.build(
        {}, ["training.lora_r=16", "chat.enable_thinking=true", "eval.benchmarks=[a, b]"]
    )
    assert cfg.training.lora_r == 16
    assert cfg.chat.enable_thinking is True
    assert cfg.eval.benchmarks == ["a", "b"]


def test_override_beats_file(tmp_path: Path):
    f = tmp_path / "mentor.yaml"
    f.write_text("training:\n  lora_r: 8\n  max_length: 512\n")
    cfg = config_mod.load(f, ["training.max_length=1024"])
    assert cfg.training.lora_r == 8 and cfg.training.max_length == 1024


def test_every_error_reported_at_once(tmp_path: Path):
    f = tmp_path / "mentor.yaml"
    f.write_text("training:\n  lora_r: many\n  nonsense: 1\nserve:\n  port: 99999\n")
    errors = config_mod.validate_file(f)
    assert len(errors) == 3
    joined = "\n".join(errors)
    assert "training.lora_r" in joined and "training.nonsense" in joined and "serve.port" in joined
    assert all(e.startswith(str(f)) for e in errors)


def test_bad_override_syntax_is_a_config_error():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        config_mod.parse_overrides(["training.lora_r"])


def test_yaml_syntax_error_names_the_line(tmp_path: Path):
    f = tmp_path / "mentor.yaml"
    f.write_text("training:\n  lora_r: [1,\n")
    with pytest.raises(ConfigError, match=r"mentor\.yaml:\d+"):
        config_mod.load(f)


def test_commented_yaml_round_trips_to_the_same_config():
    text = config_mod.commented_yaml()
    assert "# Peak learning rate." in text
    assert config_mod.build(yaml.safe_load(text)) == config_mod.Config()


def test_every_field_is_described():
    def walk(model):
        for name, field in type(model).model_fields.items():
            assert field.description, f"{type(model).__name__}.{name} has no description"
            value = getattr(model, name)
            if isinstance(value, config_mod.Section):
                walk(value)

    walk(config_mod.Config())
