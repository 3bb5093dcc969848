"""A training "killed" at a chosen step, in-process: the exception no handler of training catches."""

from __future__ import annotations

from transformers import TrainerCallback


class Killed(BaseException):
    """The process died here (a BaseException: no handler of training catches it)."""


class KillAt(TrainerCallback):
    """Kill the training when ``step`` optimizer steps are done (before the next one begins)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Killed(f"killed after step {self.step}")
        return control
