"""Training on several devices: the launch command and the rank-aware pieces of a DDP run.

``mentor train --gpus N`` and the daemon (``training.gpus``) start the same training N times
through ``torchrun`` (or ``accelerate launch`` when ``training.accelerate_config`` names an
accelerate config file: FSDP and DeepSpeed configs are passed through as they are). Each rank
runs :func:`mentor.train.train_file`; the HF Trainer wraps the model in DDP. What mentor adds:

* **One writer.** Only rank 0 writes the run folder, the lineage state and checkpoint swap, the
  row ledger, events and the status snapshot. Rank 0 opens the lineage and names the run, then
  hands both to the other ranks (:func:`from_main`); every rank plans the file itself (the plan
  is a pure function of the state and the file).
* **One decision per step.** The control request (pause/stop/skip) is read by rank 0 only and
  every rank's own SIGTERM flag is added; :func:`agree` reduces them (``stop > pause > skip``)
  so every rank stops at the same optimizer step. Ranks polling the file each would race: a
  request written between two ranks' reads stops one rank a step before the other, and the
  other then waits forever in the next all-reduce. One tiny all-reduce per optimizer step is
  the price.
* **One book.** :class:`RankSync` merges every rank's step bookkeeping (rows, position,
  tokens, loss, a NaN) before the scheduler steps, so the ledger holds every rank's rows and the
  lineage's token-driven LR schedule is the same on every rank.
* **One order.** The dataset is the file's packs in the lineage's seeded order and the
  Trainer's ``train_sampling_strategy="sequential"`` sampler keeps it; accelerate then deals the
  micro-batches to the ranks in turn (rank r takes batches r, r+N, ...). An optimizer step of N
  ranks x accumulation A x micro-batch B trains the same B*N*A packs as one process with
  accumulation N*A: the global batch is ``batch_size x ranks x grad_accum``
  (:func:`global_batch`). When the batches do not divide over the ranks, accelerate's
  ``even_batches`` gives the short rank the run's first packs again (as ``DistributedSampler``
  pads); the ledger records each row once.

The process group is gloo on a CPU (or with ``training.ddp_backend=gloo``), NCCL on CUDA.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mentor.errors import ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: how strongly a request stops training when ranks disagree (0 = nothing asked)
ACTION_ORDER: tuple[str | None, ...] = (None, "skip", "pause", "stop")


@dataclass(frozen=True)
class Ranks:
    """This process's place in the launch (from torchrun's environment)."""

    rank: int = 0
    world: int = 1
    local: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def multi(self) -> bool:
        return self.world > 1


def ranks() -> Ranks:
    """The launch this process belongs to: one process unless torchrun/accelerate set
    ``WORLD_SIZE``."""
    env = os.environ
    return Ranks(
        int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_RANK", "0"))
    )


def backend_for(choice: str, cuda: bool) -> str:
    """``training.ddp_backend``: auto = NCCL with CUDA, gloo without."""
    if choice == "auto":
        return "nccl" if cuda else "gloo"
    if choice == "nccl" and not cuda:
        raise ConfigError(
            "training.ddp_backend=nccl needs CUDA GPUs and none is visible",
            hint="use --backend gloo (or training.ddp_backend=auto) on a CPU",
        )
    return choice


def init(ddp_backend: str = "auto") -> Ranks:
    """Join the process group when launched as one of several ranks (once per process; the
    Trainer's accelerate state then uses it). On CUDA each rank takes its local GPU."""
    r = ranks()
    if not r.multi:
        return r
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        backend = backend_for(ddp_backend, cuda)
        if cuda:
            torch.cuda.set_device(r.local)
        dist.init_process_group(backend=backend)
        log.info("rank %d of %d joined the %s process group", r.rank, r.world, backend)
    return r


def _active() -> bool:
    import torch.distributed as dist

    return bool(dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1)


def barrier() -> None:
    """Wait for every rank (nothing to wait for in one process)."""
    if _active():
        import torch.distributed as dist

        dist.barrier()


def from_main(value: T) -> T:
    """Rank 0's ``value`` on every rank (returned as is in one process)."""
    if not _active():
        return value
    import torch.distributed as dist

    box: list[Any] = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]  # type: ignore[no-any-return]


def main_first(main: bool, work: Callable[[bool], T]) -> T:
    """``work(True)`` on rank 0, then ``work(False)`` on the others (which may read what rank 0
    wrote: caches, the database it created)."""
    if main:
        out = work(True)
        barrier()
        return out
    barrier()
    return work(False)


def agree(action: str | None) -> str | None:
    """The request every rank acts on at this step: the strongest of the ranks' requests."""
    if not _active():
        return action
    import torch
    import torch.distributed as dist

    code = ACTION_ORDER.index(action) if action in ACTION_ORDER else 0
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([code], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return ACTION_ORDER[int(t.item())]


def gather(value: T) -> list[T]:
    """Every rank's ``value``, in rank order."""
    if not _active():
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def merge_book(book: Any, nan_step: int | None) -> tuple[Any, int | None]:
    """Every rank's :class:`~mentor.train.trainer.StepBook` as one (rows of all ranks in rank
    order, each once; the furthest position; summed counts; the mean loss, as the Trainer logs
    it) and the NaN step if any rank saw one."""
    parts = gather((book.rows, book.end, book.loss, book.tokens, book.labels, book.slots, nan_step))
    rows = list(dict.fromkeys(r for p in parts for r in p[0]))
    nans = [p[6] for p in parts if p[6] is not None]
    merged = type(book)(
        rows,
        max(p[1] for p in parts),
        sum(p[2] for p in parts) / len(parts),
        sum(p[3] for p in parts),
        sum(p[4] for p in parts),
        sum(p[5] for p in parts),
    )
    return merged, (min(nans) if nans else None)


def _sync_callback() -> Any:
    from transformers import TrainerCallback

    class RankSync(TrainerCallback):  # type: ignore[misc]
        """Before the scheduler steps: every rank's book merged into each rank's, the
        schedule's tokens made the lineage's (not this rank's share)."""

        def __init__(self, trainer: Any) -> None:
            self.trainer = trainer

        def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            tr = self.trainer
            own = tr.book.tokens
            tr.book, tr.nan_step = merge_book(tr.book, tr.nan_step)
            tr.schedule.tokens += tr.book.tokens - own
            return control

    return RankSync


def rank_sync(trainer: Any) -> Any:
    """The callback that keeps the ranks' bookkeeping one (see :func:`merge_book`)."""
    return _sync_callback()(trainer)


# --------------------------------------------------------------------------- sizes


def optimizer_steps(packs: int, batch_size: int, grad_accum: int, world: int = 1) -> int:
    """Optimizer steps over ``packs`` with ``world`` ranks: each rank takes every world-th
    micro-batch (the short rank is padded), ``grad_accum`` micro-batches per step."""
    micro = -(-packs // batch_size)
    per_rank = -(-micro // world)
    return -(-per_rank // grad_accum)


def global_batch(batch_size: int, grad_accum: int, world: int) -> int:
    """Sequences (or packs) per optimizer step over all ranks."""
    return batch_size * world * grad_accum


# --------------------------------------------------------------------------- launching


def launch_command(
    module: str,
    args: Sequence[str],
    *,
    nproc: int,
    accelerate_config: str | None = None,
    shutdown_grace_s: float = 120.0,
    python: str | None = None,
) -> list[str]:
    """``python -m <module> <args>`` run as ``nproc`` ranks on this machine.

    torchrun (``--standalone``: a free local rendezvous) by default; ``accelerate launch
    --config_file`` when an accelerate config is given (its FSDP/DeepSpeed settings apply as
    written; mentor does not read the file). ``shutdown_grace_s``: how long torchrun lets the
    ranks checkpoint after a SIGTERM before it kills them.
    """
    if nproc < 1:
        raise ConfigError(f"training.gpus={nproc}: expected 1 or more")
    py = python or sys.executable
    if accelerate_config:
        return [
            py,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(accelerate_config),
            "--num_processes",
            str(nproc),
            "-m",
            module,
            *args,
        ]
    return [
        py,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(nproc),
        "--shutdown-timeout",
        str(int(shutdown_grace_s)),
        "-m",
        module,
        *args,
    ]


def parent_of(pid: int) -> int:
    """The parent pid of ``pid`` (0 when it is gone)."""
    import psutil

    try:
        return int(psutil.Process(pid).ppid())
    except psutil.Error:
        return 0


def watch_daemon(
    read: Callable[[], str | None], agent: int, daemon: int
) -> Callable[[], str | None]:
    """A rank's control reader that also stops when the daemon is gone: torchrun's agent sits
    between the daemon and the ranks, so the rank checks the agent's parent."""

    def read_action() -> str | None:
        if parent_of(agent) != daemon:
            return "stop"
        return read()

    return read_action


def kill_tree(pid: int, sig: int) -> None:
    """``sig`` to ``pid`` and every process below it: torchrun starts each rank in a session of
    its own, so a process-group kill would miss the ranks."""
    import psutil

    try:
        procs = [*psutil.Process(pid).children(recursive=True), psutil.Process(pid)]
    except psutil.Error:
        return
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.Error:
            continue
