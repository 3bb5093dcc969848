"""Training: ``train_file`` around HF Trainer + PEFT, continuous lineage state, schedule.

The daemon's training child and ``mentor train`` call the same function::

    from mentor.train import train_file
    outcome = train_file(ws, cfg, path, job_id=7, control=read_control, progress=on_progress)
"""

from mentor.train.core import TrainOutcome, train_file

__all__ = ["TrainOutcome", "train_file"]
