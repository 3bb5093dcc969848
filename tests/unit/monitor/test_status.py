"""The status snapshot (monitor/status.py): the users' field names, throttled atomic writes,
derived fields, recent examples."""

from __future__ import annotations

import json

from mentor.paths import Workspace


def test_status_snapshot_fields(workspace: Workspace) -> None:
    from mentor.monitor.status import FIELDS, StatusWriter, read_status

    now = [0.0]
    w = StatusWriter(workspace, clock=lambda: now[0])
    assert w.update(status="training", step=3, loss=2.0, val_loss=2.5)
    assert not w.update(loss=1.5)  # throttled: at most every 2 s
    now[0] = 2.1
    w.update(
        example={
            "step": 3,
            "prompt": "p",
            "golden": "g",
            "model_output": "g",
            "matches": True,
            "loss": 1.0,
        }
    )
    s = json.loads(workspace.status_file.read_text())
    assert set(FIELDS) <= set(s)
    assert s["current_step"] == 3 and s["loss"] == 1.5 and s["val_train_gap"] == 1.0
    assert s["total_evals"] == 1 and s["accuracy_percent"] == 100.0
    assert s["recent_examples"][0]["matches"] is True
    assert read_status(workspace)["status"] == "training"
