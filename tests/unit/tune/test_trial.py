"""Trial mechanics without training: report points by share of the file, the trial's config,
the scratch copy of the lineage."""

from __future__ import annotations

from pathlib import Path

from mentor.config import Config
from mentor.paths import Workspace
from mentor.tune.trial import Reporter, copy_lineage, has_lineage, scratch_workspace, trial_config


def _p(step: int, rows: int, val: float | None, *, total: int = 100, start: int = 0) -> dict:
    return {
        "step": step,
        "rows_trained": rows,
        "next_row": start + rows,
        "rows_total": total,
        "val_loss": val,
    }


def test_points_are_shares_of_the_file_not_steps() -> None:
    # batch 8: 12 steps over 96 rows; batch 2: 48 steps over 96 rows; both evaluate every 4 steps
    big, small = Reporter(val_every=4, points=4), Reporter(val_every=4, points=4)
    big_points = [big.point(_p(s, 8 * s, 1.0)) for s in range(1, 13)]
    small_points = [small.point(_p(s, 2 * s, 1.0)) for s in range(1, 49)]
    assert [k for k in big_points if k is not None] == [1, 2, 3]  # 32, 64, 96 rows seen
    assert [k for k in small_points if k is not None] == [0, 1, 2, 3]
    # every point either trial reports was reached with about the same rows seen
    assert set(big.values) <= set(small.values) | {4}


def test_only_fresh_validation_losses_are_reported_once_per_point() -> None:
    r = Reporter(val_every=2, points=10)
    assert r.point(_p(1, 10, 5.0)) is None  # a val_loss carried over from an older step
    assert r.point(_p(2, 20, 4.0)) == 2
    assert r.point(_p(3, 21, 4.0)) is None
    assert r.point(_p(4, 25, 3.9)) is None  # still in part 2: reported once
    assert r.point(_p(6, 40, 3.5)) == 4
    assert r.point(_p(8, 50, None)) is None
    assert r.values == {2: 4.0, 4: 3.5}


def test_a_file_resumed_part_way_counts_from_where_the_trial_started() -> None:
    r = Reporter(val_every=1, points=4)
    assert r.point(_p(1, 10, 2.0, total=100, start=60)) == 1  # 10 of the 40 rows left
    assert r.point(_p(2, 40, 1.0, total=100, start=60)) == 4


def test_trial_config_applies_the_trial_settings_on_the_base(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    base = Config()
    base.tune.val_every = 3
    cfg = trial_config(ws, base, {"training.lora_r": 8, "eval.live_every": 5})
    assert Path(cfg.model.path) == tmp_path / "models" / "tiny"  # absolute: scratch has no models/
    assert cfg.eval.val_every == 3 and cfg.training.lora_r == 8
    assert cfg.eval.live_every == 5  # a space's fixed value wins over the preset
    assert trial_config(ws, base, {}).eval.live_every == 0  # previews off in trials by default
    assert base.training.lora_r == 64  # the base is not modified


def test_scratch_starts_from_a_copy_of_the_lineage(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.current.mkdir(parents=True)
    assert not has_lineage(ws)
    scratch = scratch_workspace(ws, "s", 1, continuing=False)
    assert scratch.home == ws.tune / "s" / "trial-0001" and not any(scratch.current.iterdir())
    (ws.current / "adapter_model.safetensors").write_bytes(b"w" * 1000)
    (ws.current / "sub").mkdir()
    (ws.current / "sub" / "state.json").write_text("{}")
    assert has_lineage(ws)
    scratch = scratch_workspace(ws, "s", 1, continuing=True)
    assert (scratch.current / "adapter_model.safetensors").read_bytes() == b"w" * 1000
    assert (scratch.current / "sub" / "state.json").read_text() == "{}"
    copy_lineage(ws.current, tmp_path / "again")
    assert sorted(p.name for p in (tmp_path / "again").rglob("*")) == [
        "adapter_model.safetensors",
        "state.json",
        "sub",
    ]
