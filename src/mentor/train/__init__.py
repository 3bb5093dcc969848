"""Training: ``train_file`` around HF Trainer + PEFT, the continuous lineage, its schedule.

The daemon's training child and ``mentor train`` call the same function::

    from mentor.train import train_file
    outcome = train_file(ws, cfg, path, job_id=7, control=read_control, progress=on_progress)

The recipe is :mod:`mentor.train.recipe`; importing this package stays light (the daemon reads
the lineage state through :mod:`mentor.train.lineage` without loading transformers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mentor.train.recipe import train_file
    from mentor.train.run_folder import TrainOutcome

__all__ = ["TrainOutcome", "train_file"]


def __getattr__(name: str) -> Any:
    if name == "train_file":
        from mentor.train.recipe import train_file

        return train_file
    if name == "TrainOutcome":
        from mentor.train.run_folder import TrainOutcome

        return TrainOutcome
    raise AttributeError(name)
