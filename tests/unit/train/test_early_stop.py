"""Early stopping (issue 17): the decision on synthetic series, and a real run through
``train_file`` that stops and keeps the best checkpoint as the lineage's state."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from mentor import config as config_mod
from mentor.analysis.curve_data import curve_data
from mentor.errors import ConfigError
from mentor.store import connect
from mentor.store.lineage import last_step
from mentor.store.lineage import rows as ledger_rows
from mentor.train import train_file
from mentor.train.early_stop import EarlyStopper, preview_value


def _run(stopper: EarlyStopper, values: list[float]) -> int | None:
    """The evaluation (1-based) at which the stopper says stop, else None."""
    for i, v in enumerate(values, start=1):
        if stopper.update(i * 10, v):
            return i
    return None


def test_patience_counts_evaluations_without_improvement() -> None:
    s = EarlyStopper(patience=3)
    assert _run(s, [2.0, 1.5, 1.2, 1.3, 1.25, 1.21, 1.0]) == 6  # 1.3, 1.25, 1.21 >= best 1.2
    assert s.best == 1.2 and s.best_step == 30 and s.bad == 3
    assert _run(EarlyStopper(patience=3), [2.0, 1.5, 1.6, 1.4, 1.45, 1.3]) is None  # reset


def test_min_delta_and_direction_and_nan() -> None:
    # improvements of 0.01 do not count against min_delta 0.05
    s = EarlyStopper(patience=2, min_delta=0.05)
    assert _run(s, [1.0, 0.99, 0.98]) == 3 and s.best == 1.0
    # higher-is-better metrics (a preview's solved share)
    up = EarlyStopper(patience=2, lower_is_better=False)
    assert _run(up, [0.1, 0.3, 0.3, 0.2]) == 4 and up.best == 0.3 and up.best_step == 20
    # a NaN never improves, and never becomes the best
    nan = EarlyStopper(patience=2)
    assert _run(nan, [1.0, math.nan, math.nan]) == 3 and nan.best == 1.0
    cfg = config_mod.Config().training.early_stopping
    cfg.metric = "preview.solved_share"
    assert EarlyStopper.from_config(cfg).lower_is_better is False
    cfg.metric = "preview.loss"
    assert EarlyStopper.from_config(cfg).lower_is_better is True
    assert preview_value({"solved_share": 0.5, "scores": {"exact": 0.25}}, "exact") == 0.25
    with pytest.raises(ConfigError, match="preview"):
        config_mod.build({"training": {"early_stopping": {"metric": "accuracy"}}})


class _Snapshots(TrainerCallback):  # type: ignore[misc]
    """The adapter's weights after every optimizer step (what a checkpoint at that step holds)."""

    def __init__(self) -> None:
        self.by_step: dict[int, dict[str, torch.Tensor]] = {}

    def on_step_end(self, args, state, control, model=None, **kwargs):
        from peft import get_peft_model_state_dict

        sd = get_peft_model_state_dict(model)
        self.by_step[int(state.global_step)] = {k: v.detach().clone() for k, v in sd.items()}
        return control


def test_a_real_run_stops_early_and_keeps_the_best_checkpoint(workspace, tmp_path: Path) -> None:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"n {i}"},
                {"role": "assistant", "content": f"{i}"},
            ]
        }
        for i in range(40)
    ]
    path = tmp_path / "file.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config_mod.load(workspace.config_file)
    t = cfg.training
    t.lora_r = t.lora_alpha = 4
    t.batch_size, t.grad_accum, t.packing, t.max_length, t.save_steps = 2, 1, False, 64, 1
    cfg.data.holdout_max, cfg.data.holdout_fraction = 4, 0.1  # 36 trained rows: 18 steps
    cfg.eval.val_every, cfg.eval.live_every = 2, 0
    es = t.early_stopping
    # every evaluation after the first falls short of a huge min_delta: the best is step 2 and
    # the file stops at the second evaluation after it (step 6), whatever the losses are
    es.enabled, es.patience, es.min_delta = True, 2, 1e9
    snaps = _Snapshots()
    out = train_file(workspace, cfg, path, callbacks=[snaps])

    assert out.status == "completed" and out.global_step == 2
    assert out.rows_trained == 4 and out.next_row == 4  # the best's rows, not the last's 12
    info = out.metrics["early_stop"]
    assert (info["stopped_at"], info["kept_step"], info["best_step"]) == (6, 2, 2)
    assert max(snaps.by_step) == 6  # trained to step 6, kept step 2
    kept = load_file(str(workspace.current / "adapter_model.safetensors"))
    assert kept.keys() == snaps.by_step[2].keys()
    assert all(torch.equal(kept[k], snaps.by_step[2][k]) for k in kept)
    assert not all(torch.equal(kept[k], snaps.by_step[6][k]) for k in kept)
    # the lineage continues from the best; the ledger holds the rows trained up to it
    state = json.loads(workspace.lineage_state.read_text())
    entry = next(iter(state["files"].values()))
    assert state["global_step"] == 2 and entry["status"] == "completed" and entry["next_row"] == 4
    assert entry["early_stop"]["stopped_at"] == 6
    conn = connect(workspace.db)
    ledger = ledger_rows(conn, int(state["lineage_id"]), out.file_hash)
    assert len(ledger) == 4 and last_step(conn, int(state["lineage_id"])) == 2
    events = [
        r[0] for r in conn.execute("SELECT message FROM events WHERE kind='train.early_stopped'")
    ]
    assert len(events) == 1 and "kept the best checkpoint" in events[0] and "step 2" in events[0]
    conn.close()
    # the learning curve marks where it stopped and what it kept
    data = curve_data(workspace, cfg, [out.run_id])
    assert [(e["stopped_at"], e["kept_step"]) for e in data["early_stops"]] == [(6, 2)]
    assert any("early stopping" in line for line in data["analysis"]["lines"])
    # a completed (early-stopped) file is not trained again
    assert "already trained" in train_file(workspace, cfg, path).message
