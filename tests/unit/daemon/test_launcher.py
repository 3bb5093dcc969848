"""Launching and reaping children (daemon/launcher.py): a child killed with -9 costs one
attempt and resumes from its checkpoint; a child that cannot start fails after max_attempts;
the functions a mode calls can be replaced (how these tests run stand-ins)."""

from __future__ import annotations

import os
import signal

import pytest

from mentor.paths import Workspace


def test_launcher_defaults_and_overrides(fake_ws: Workspace) -> None:
    from mentor.daemon.child import FUNCTIONS, MODES
    from mentor.daemon.launcher import Launcher

    assert set(MODES) == {"train", "evaluate", "evaluate-full", "consolidate"}
    la = Launcher(fake_ws, functions={"train": "x.py:f"})
    assert la.functions == {**FUNCTIONS, "train": "x.py:f"}


def test_child_kill9_retries_from_checkpoint(
    fake_ws: Workspace, kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_STEP_S", "0.1")
    d = kit.make_daemon(fake_ws)
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 20)
        kit.drive(d, lambda: len(kit.ledger(fake_ws)) >= 4)
        os.kill(d.child.proc.pid, signal.SIGKILL)
        kit.drive(d, lambda: kit.jobs(fake_ws)[0]["state"] == "done")
    finally:
        d.close()
    job = kit.jobs(fake_ws)[0]
    assert job["attempts"] == 1
    rows = [r for _, r in kit.ledger(fake_ws)]
    assert set(rows) == set(range(20))
    # the row being trained at the kill may be repeated at most once; nothing is lost
    assert len(rows) - 20 <= 1


def test_max_attempts_then_failed(fake_ws: Workspace, kit) -> None:
    d = kit.make_daemon(fake_ws, extra=["daemon.max_attempts=2"], train=f"{kit.HERE}:nope")
    d.start()
    try:
        kit.write_rows(fake_ws.inbox / "a.jsonl", 2)
        kit.drive(d, lambda: kit.jobs(fake_ws) and kit.jobs(fake_ws)[0]["state"] == "failed")
    finally:
        d.close()
    assert kit.jobs(fake_ws)[0]["attempts"] == 2
    assert list(fake_ws.failed.glob("*a.jsonl.error.json"))


def test_training_child_becomes_torchrun_ranks_with_training_gpus(fake_ws: Workspace) -> None:
    """training.gpus > 1: the same child command runs as that many ranks, torchrun waiting the
    orphan grace for their checkpoints; an accelerate config switches to accelerate launch."""
    import sys

    from mentor.daemon.launcher import ORPHAN_GRACE_S, Launcher

    child = [sys.executable, "-m", "mentor.daemon.child", "--home", str(fake_ws.home)]
    assert Launcher(fake_ws)._ranks(child) == child  # one GPU: one plain child
    cmd = Launcher(fake_ws, ["training.gpus=2"])._ranks(child)
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert cmd[cmd.index("--nproc-per-node") + 1] == "2"
    assert cmd[cmd.index("--shutdown-timeout") + 1] == str(int(ORPHAN_GRACE_S))
    assert cmd[-4:] == child[1:]
    acc = Launcher(fake_ws, ["training.gpus=3", "training.accelerate_config=/cfg/ds.yaml"])
    cmd = acc._ranks(child)
    assert cmd[2] == "accelerate.commands.launch" and "/cfg/ds.yaml" in cmd
    assert cmd[-4:] == child[1:]
    bad = Launcher(fake_ws, ["training.gpus=zero"])  # the child itself reports the config error
    assert bad._ranks(child) == child
