"""CPU cores divided among busy mentor processes (monitor/cpu_share.py), with real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch


def test_a_second_busy_process_halves_the_threads_and_its_end_restores_them(
    tmp_path: Path, monkeypatch
) -> None:
    from mentor.monitor.cpu_share import CpuShare

    monkeypatch.setenv("MENTOR_CPU_SHARE", "1")
    before = torch.get_num_threads()
    try:
        with CpuShare(tmp_path, interval=0, total=8) as me:
            assert me.threads == 8 == torch.get_num_threads()
            other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
            (tmp_path / str(other.pid)).write_text("")  # another busy mentor process
            assert me.rebalance() == 4 == torch.get_num_threads()
            other.kill()
            other.wait()
            assert me.rebalance() == 8  # a dead pid's file is dropped when counted
            assert not (tmp_path / str(other.pid)).exists()
        assert list(tmp_path.iterdir()) == []
    finally:
        torch.set_num_threads(before)
