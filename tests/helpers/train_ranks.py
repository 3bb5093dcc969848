"""What the two-rank training test's daemon child calls (loaded by file path, once per rank).

:func:`train_then_pause` is the real :func:`mentor.train.train_file` with one addition: rank 0
writes a pause request on the control channel at the start of optimizer step
``MENTOR_TEST_PAUSE_AT`` (0 = never). Only rank 0 reads the channel, so the other rank stops at
that step only if the request reaches it through the ranks' agreement. Every rank appends what
its own ``train_file`` returned to ``logs/ranks.jsonl``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from mentor import control as control_channel
from mentor.paths import Workspace
from mentor.train import train_file
from mentor.train.distributed import ranks


class PauseAt(TrainerCallback):  # type: ignore[misc]
    def __init__(self, ws: Workspace, step: int) -> None:
        self.ws, self.step = ws, step

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if ranks().main and int(state.global_step) + 1 == self.step:
            control_channel.request(self.ws, "pause", "test: pause at a known step")
        return control


def train_then_pause(ws: Workspace, cfg: Any, path: Path, **kwargs: Any) -> Any:
    pause_at = int(os.environ.get("MENTOR_TEST_PAUSE_AT", "0"))
    out = train_file(ws, cfg, path, callbacks=[PauseAt(ws, pause_at)], **kwargs)
    record = {"rank": ranks().rank, "status": out.status, "global_step": out.global_step}
    with open(ws.logs / "ranks.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({**record, "next_row": out.next_row}) + "\n")
    return out
