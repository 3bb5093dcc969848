"""The PID lock (daemon/lock.py): one daemon per workspace; a dead holder's lock is taken over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from mentor.paths import Workspace


def test_pid_lock_and_stale_lock(workspace: Workspace) -> None:
    from mentor.daemon.lock import PidLock, lock_holder
    from mentor.errors import JobError

    a = PidLock(workspace).acquire()
    with pytest.raises(JobError, match="already runs"):
        PidLock(workspace).acquire()
    assert lock_holder(workspace) == os.getpid()
    a.release()
    # a lock left by a dead process is stale and taken over
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    workspace.pid_file.write_text(json.dumps({"pid": p.pid, "started": time.time() - 10}))
    assert lock_holder(workspace) is None
    b = PidLock(workspace).acquire()
    assert b.stale_taken
    b.release()
    assert not workspace.pid_file.exists()
