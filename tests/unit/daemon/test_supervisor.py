"""The server child of ``mentor up`` never outlives it, however ``mentor up`` ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mentor.daemon.supervisor import Supervised

    s = Supervised([sys.executable, "-c", "import time; time.sleep(120)"], Path(sys.argv[1]))
    s.start()
    print(s.proc.pid, flush=True)
    time.sleep(120)
    """
)


def test_a_killed_supervisor_takes_its_server_with_it(tmp_path: Path) -> None:
    # Reliability finding: `mentor up` killed with SIGKILL left its `mentor serve` running (a
    # session of its own, nothing watching the parent), holding the port.
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "serve.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert psutil.pid_exists(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(child).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the server child outlived its killed supervisor")
