"""train/distributed.py: the launch command, the sizes of a DDP step, the ranks' agreement on
control and bookkeeping (two real gloo processes), and the kill that reaches every rank."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mentor.errors import ConfigError
from mentor.train import distributed


def test_torchrun_command_runs_the_module_as_n_local_ranks() -> None:
    cmd = distributed.launch_command(
        "mentor.daemon.child", ["--home", "/w"], nproc=4, shutdown_grace_s=90, python="py"
    )
    assert cmd == [
        "py",
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc-per-node",
        "4",
        "--shutdown-timeout",
        "90",
        "-m",
        "mentor.daemon.child",
        "--home",
        "/w",
    ]
    with pytest.raises(ConfigError, match=r"training\.gpus=0"):
        distributed.launch_command("mentor", [], nproc=0)


def test_accelerate_config_is_passed_as_is(tmp_path: Path) -> None:
    """An FSDP/DeepSpeed accelerate config goes to ``accelerate launch`` untouched."""
    fsdp = tmp_path / "fsdp.yaml"
    cmd = distributed.launch_command(
        "mentor", ["train", "a.jsonl"], nproc=2, accelerate_config=str(fsdp), python="py"
    )
    assert cmd[:3] == ["py", "-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--config_file") + 1] == str(fsdp)
    assert cmd[cmd.index("--num_processes") + 1] == "2"
    assert cmd[-4:] == ["-m", "mentor", "train", "a.jsonl"]


def test_backend_auto_is_gloo_without_cuda_and_nccl_needs_cuda() -> None:
    assert distributed.backend_for("auto", cuda=False) == "gloo"
    assert distributed.backend_for("auto", cuda=True) == "nccl"
    assert distributed.backend_for("gloo", cuda=True) == "gloo"
    with pytest.raises(ConfigError, match="--backend gloo"):
        distributed.backend_for("nccl", cuda=False)


@pytest.mark.parametrize(
    ("packs", "batch", "accum", "world"), [(8, 1, 1, 2), (9, 1, 1, 2), (13, 2, 3, 2), (7, 1, 2, 4)]
)
def test_optimizer_steps_follow_accelerates_sharding(
    packs: int, batch: int, accum: int, world: int
) -> None:
    """The steps a run plans equal what each rank's sharded DataLoader yields (accelerate's own
    ``BatchSamplerShard``), so the Trainer never starts a second pass over the file."""
    from accelerate.data_loader import BatchSamplerShard
    from torch.utils.data import BatchSampler, SequentialSampler

    sampler = BatchSampler(SequentialSampler(range(packs)), batch, drop_last=False)
    lengths = {len(BatchSamplerShard(sampler, world, r, even_batches=True)) for r in range(world)}
    assert len(lengths) == 1  # even batches: every rank takes the same number of steps
    assert distributed.optimizer_steps(packs, batch, accum, world) == -(-lengths.pop() // accum)
    assert distributed.global_batch(batch, accum, world) == batch * accum * world


def test_one_process_needs_no_process_group() -> None:
    from mentor.train.trainer import StepBook

    assert distributed.ranks() == distributed.Ranks(0, 1, 0)
    assert distributed.init("nccl").main  # one process: no group, no backend check
    assert distributed.agree("pause") == "pause"
    assert distributed.from_main("x") == "x"
    assert distributed.main_first(True, lambda first: first) is True
    book = StepBook([3, 1], 5, 2.0, 10, 4, 12)
    merged, nan = distributed.merge_book(book, None)
    assert (merged.rows, merged.end, merged.loss, merged.tokens, nan) == ([3, 1], 5, 2.0, 10, None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_gloo_ranks_act_on_the_same_request_and_keep_one_book(tmp_path: Path) -> None:
    """Only rank 0 reads the control file; a SIGTERM reaches one rank: both act on the strongest
    request (stop > pause > skip) at the same step, and both hold every rank's rows."""
    import torch.multiprocessing as mp

    from helpers.rank_agreement import agreement_rank

    asks = [[None, "pause", "skip", None], [None, None, "stop", None]]
    mp.spawn(agreement_rank, args=(2, _free_port(), asks, str(tmp_path)), nprocs=2, join=True)
    got = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for g in got:
        assert g["acted"] == [None, "pause", "stop", None]
        assert g["rows"] == [0, 1, 10, 11] and g["end"] == 5
        assert (g["loss"], g["tokens"], g["nan"]) == (1.5, 200, 7)
        assert g["from_main"] == "run-of-rank-0"


def test_kill_tree_reaches_processes_in_their_own_session() -> None:
    """torchrun starts each rank with a session of its own: a process-group kill of the
    launcher would leave them running; kill_tree does not."""
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    top = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert top.stdout is not None
    rank = int(top.stdout.readline())
    assert os.getsid(rank) != os.getsid(top.pid)
    distributed.kill_tree(top.pid, signal.SIGKILL)
    top.wait(10)
    deadline = time.time() + 10
    while psutil.pid_exists(rank) and psutil.Process(rank).status() != psutil.STATUS_ZOMBIE:
        assert time.time() < deadline, "the rank survived"
        time.sleep(0.05)


def test_a_rank_stops_when_the_daemon_above_its_agent_is_gone() -> None:
    """Under torchrun the rank's parent is the agent; the daemon is the agent's parent."""
    agent = os.getpid()  # stands for the agent: its parent is this test's parent
    read = distributed.watch_daemon(lambda: None, agent, os.getppid())
    assert read() is None
    gone = distributed.watch_daemon(lambda: None, agent, daemon=os.getppid() + 10**6)
    assert gone() == "stop"
