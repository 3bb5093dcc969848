"""Config patches: every error at once, the diff of resolved keys, an in-place edit that keeps
the file's comments and reads back as the intended config."""

from __future__ import annotations

from pathlib import Path

import yaml

from mentor import config as config_mod
from mentor.config_patch import edit_text, flatten, nest, plan_patch, read_patch, write_plan


def _config(tmp_path: Path, extra: str = "") -> Path:
    text = config_mod.commented_yaml().replace("  lora_r: 64", "  lora_r: 64  # our own note")
    f = tmp_path / "mentor.yaml"
    f.write_text(text + extra)
    return f


def _patch(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "patch.yaml"
    p.write_text(text)
    return p


def test_flatten_and_nest_are_inverse() -> None:
    nested = {
        "training": {"lora_r": 8, "lora_targets": ["q_proj"]},
        "eval": {"alerts": {"window": 4}},
    }
    flat = flatten(nested)
    assert flat == {
        "training.lora_r": 8,
        "training.lora_targets": ["q_proj"],
        "eval.alerts.window": 4,
    }
    assert nest(flat) == nested
    assert flatten({"training.lora_r": 8}) == {"training.lora_r": 8}  # dotted keys stay dotted


def test_plan_shows_the_resolved_diff_and_applies_keeping_comments(tmp_path: Path) -> None:
    cfg_file = _config(tmp_path)
    before = cfg_file.read_text()
    patch = _patch(
        tmp_path,
        "# from a search\ntraining:\n  learning_rate: 5.0e-05\n  lora_r: 16\n"
        "report.time: '08:30'\neval.alerts.window: 7\ntune: {trials: 4}\n",
    )
    plan = plan_patch(cfg_file, read_patch(patch))
    assert plan.ok and plan.comments_kept
    assert {c.key for c in plan.changes} == {
        "training.learning_rate",
        "training.lora_r",
        "report.time",
        "eval.alerts.window",
        "tune.trials",
    }
    diff = plan.diff.splitlines()
    assert "-training.learning_rate: 0.0002" in diff and "+training.learning_rate: 5e-05" in diff
    assert "-training.lora_r: 64" in diff and "+training.lora_r: 16" in diff
    assert '+report.time: "08:30"' in diff
    assert cfg_file.read_text() == before  # planning writes nothing

    write_plan(plan)
    after = cfg_file.read_text()
    cfg = config_mod.load(cfg_file)
    assert cfg.training.learning_rate == 5e-05 and cfg.training.lora_r == 16
    assert cfg.report.time == "08:30" and cfg.eval.alerts.window == 7 and cfg.tune.trials == 4
    # every comment line of the original is still there, and the inline note too
    comments = [ln.strip() for ln in before.splitlines() if ln.strip().startswith("#")]
    assert all(c in after for c in comments)
    assert "lora_r: 16  # our own note" in after
    # untouched keys keep their text exactly (quotes included)
    assert "snapshot_at: '02:00'" in after
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=False) if a != b
    ]
    assert len(changed) == 5 and len(after.splitlines()) == len(before.splitlines())  # in place


def test_an_invalid_patch_reports_every_error_with_its_line(tmp_path: Path) -> None:
    cfg_file = _config(tmp_path)
    before = cfg_file.read_text()
    patch = _patch(
        tmp_path,
        "training:\n  lora_r: 0\n  bogus: 1\n\neval.gate_alpha: 2.0\ntraining.schedule: sawtooth\n",
    )
    plan = plan_patch(cfg_file, read_patch(patch))
    assert not plan.ok and plan.new_text is None
    by_key = {e.split(": ")[1]: e for e in plan.errors}
    assert set(by_key) == {
        "training.lora_r",
        "training.bogus",
        "eval.gate_alpha",
        "training.schedule",
    }
    assert by_key["training.lora_r"].startswith(f"{patch}:2:")
    assert (
        by_key["training.bogus"].startswith(f"{patch}:3:")
        and "unknown key" in by_key["training.bogus"]
    )
    assert by_key["eval.gate_alpha"].startswith(f"{patch}:5:")
    assert by_key["training.schedule"].startswith(f"{patch}:6:")
    assert cfg_file.read_text() == before


def test_a_patch_of_current_values_changes_nothing(tmp_path: Path) -> None:
    cfg_file = _config(tmp_path)
    plan = plan_patch(cfg_file, read_patch(_patch(tmp_path, "training.lora_r: 64\n")))
    assert plan.ok and plan.changes == [] and plan.diff == "" and plan.new_text is None


def test_edit_text_styles_values_the_way_mentor_reads_them() -> None:
    text = "# top\ndaemon:\n  consolidate_at: null  # never\n"
    new = edit_text(
        text,
        {
            "daemon.consolidate_at": "03:00",  # would be sexagesimal 180 if written bare
            "training.lora_targets": ["q_proj", "v_proj"],
            "training.learning_rate": 1e-05,  # PyYAML reads bare 1e-05 as a string
        },
    )
    data = yaml.safe_load(new)
    assert data["daemon"]["consolidate_at"] == "03:00"
    assert data["training"]["learning_rate"] == 1e-05
    assert data["training"]["lora_targets"] == ["q_proj", "v_proj"]
    assert new.startswith("# top\n") and "# never" in new


def test_a_layout_that_cannot_be_edited_in_place_is_rewritten_and_said(tmp_path: Path) -> None:
    # PyYAML takes the last of duplicate keys; ruamel refuses them: no safe in-place edit.
    cfg_file = tmp_path / "mentor.yaml"
    cfg_file.write_text("training:\n  lora_r: 4\n  lora_r: 8\n")
    plan = plan_patch(cfg_file, read_patch(_patch(tmp_path, "training.lora_alpha: 16\n")))
    assert plan.ok and not plan.comments_kept
    write_plan(plan)
    cfg = config_mod.load(cfg_file)
    assert cfg.training.lora_r == 8 and cfg.training.lora_alpha == 16
