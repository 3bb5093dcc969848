"""One gloo rank of the ranks' agreement test (a ``torch.multiprocessing.spawn`` target, kept
apart from transformers so a rank starts in a second or two)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class StepBook:
    """The fields of :class:`mentor.train.trainer.StepBook` that ranks merge, in its order."""

    rows: list[int] = field(default_factory=list)
    end: int = -1
    loss: float = 0.0
    tokens: int = 0
    labels: int = 0
    slots: int = 0


def agreement_rank(
    rank: int, world: int, port: int, asks: list[list[str | None]], out: str
) -> None:
    """One gloo rank of the agreement test (``torch.multiprocessing.spawn`` target): each rank
    asks ``asks[rank][i]`` at step i; what every rank acts on, the merged book and rank 0's value
    go to ``out/rank<r>.json``."""
    import torch.distributed as dist

    from mentor.train import distributed

    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    os.environ.update(env, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    r = distributed.init("gloo")
    acted = [distributed.agree(a) for a in asks[rank]]
    book = StepBook([10 * rank, 10 * rank + 1], 4 + rank, float(rank + 1), 100, 40, 128)
    merged, nan = distributed.merge_book(book, 7 if rank == 1 else None)
    first = distributed.from_main(f"run-of-rank-{rank}")
    result = {"rank": r.rank, "acted": acted, "rows": merged.rows, "end": merged.end}
    result.update(loss=merged.loss, tokens=merged.tokens, nan=nan, from_main=first)
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()
