"""kill -9 at random moments: the training child across a multi-file queue, and the daemon
itself (then restarted), with the real tiny-model training on the CPU.

After the last kill every job is accounted for (done), the ledger holds each row of each file
exactly once, and each killed run lost at most the steps after its last checkpoint
(``training.save_steps``): those rows alone were trained again.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from helpers.reliability import size
from mentor.monitor.processes import pid_alive
from mentor.paths import Workspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600), pytest.mark.reliability_full]

SAVE_STEPS = 2
OVR = [
    "training.max_length=256",
    "training.lora_r=4",
    "training.lora_alpha=4",
    f"training.save_steps={SAVE_STEPS}",
    "training.batch_size=2",
    "training.grad_accum=1",
    "training.packing=false",
    "training.warmup_steps=2",
    "eval.live_every=0",
    "eval.val_every=0",
    "eval.quick_per_tier=0",
    "data.holdout_fraction=0",
    "daemon.settle_seconds=0.3",
    "daemon.backoff_seconds=0",
    "daemon.max_attempts=100",
    "daemon.min_free_gib=0",
    "daemon.poll_seconds=0.2",
    "daemon.snapshot_at=null",
    "eval.full_when_idle=false",
]


def rows_file(path: Path, n: int, seed: int) -> None:
    with open(path, "w") as f:
        for i in range(n):
            a, b = seed * 1000 + i, i + 7
            m = [
                {"role": "user", "content": f"{a} plus {b}?"},
                {"role": "assistant", "content": str(a + b)},
            ]
            f.write(json.dumps({"messages": m}) + "\n")


def q(ws: Workspace, sql: str) -> list[sqlite3.Row]:
    c = sqlite3.connect(ws.db, timeout=30)
    c.row_factory = sqlite3.Row
    try:
        return c.execute(sql).fetchall()
    finally:
        c.close()


def daemon(ws: Workspace) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "mentor", "--home", str(ws.home), "daemon"]
    cmd += [a for o in OVR for a in ("--set", o)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(ws.logs / "d.err", "ab"))


def wait(cond, proc, timeout: float = 600.0) -> None:
    t0 = time.time()
    while not cond():
        assert proc.poll() is None, (proc.args, proc.returncode)
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.1)


def child_pid(ws: Workspace) -> int | None:
    r = q(ws, "SELECT value FROM kv WHERE key = 'daemon.child_pid'")
    v = json.loads(r[0][0]) if r and r[0][0] else None
    return int(v) if v else None


def test_kill9_child_and_daemon_at_random_points(workspace: Workspace, tally) -> None:
    ws = workspace
    rng = random.Random(18)
    n_files, rows = size(2, 4), size(16, 30)
    kills = size(2, 20)
    for i in range(n_files):
        rows_file(ws.inbox / f"f{i}.jsonl", rows, i + 1)
    total = n_files * rows
    proc = daemon(ws)
    # own rows only: replayed rows of earlier files (training.replay_fraction) are not progress
    ledger = lambda: q(ws, "SELECT COUNT(*) FROM ledger WHERE replay = 0")[0][0]  # noqa: E731
    done_kills, daemon_killed = 0, False
    try:
        while done_kills < kills:
            target = min(total - 1, ledger() + rng.randint(1, 6))
            wait(lambda t=target: ledger() >= t or ledger() >= total - 1, proc)
            time.sleep(rng.uniform(0, 1.5))  # anywhere in a step, a checkpoint or between
            pid = child_pid(ws)
            if pid is None or not pid_alive(pid):
                if ledger() >= total - 1:
                    break  # the queue ran out before the planned kills
                continue
            os.kill(pid, signal.SIGKILL)
            done_kills += 1
            if not daemon_killed and done_kills == max(1, kills // 2):
                wait(lambda p=pid: not pid_alive(p), proc)
                wait(lambda: child_pid(ws) is not None, proc, 300)
                orphan = child_pid(ws)
                proc.kill()  # kill -9 the daemon with a child running
                proc.wait(30)
                daemon_killed = True
                if orphan:
                    t0 = time.time()
                    while pid_alive(orphan) and time.time() - t0 < 120:
                        time.sleep(0.2)
                proc = daemon(ws)  # restarted: stale lock taken over, the queue resumes
        wait(
            lambda: [r[0] for r in q(ws, "SELECT state FROM jobs")].count("done") == n_files,
            proc,
            1200,
        )
    finally:
        subprocess.run([sys.executable, "-m", "mentor", "--home", str(ws.home), "stop"], timeout=120,
                       capture_output=True)  # fmt: skip
        try:
            proc.wait(120)
        finally:
            if proc.poll() is None:
                proc.kill()
    jobs = q(ws, "SELECT name, state, rows_done, rows_total FROM jobs ORDER BY id")
    assert [j["state"] for j in jobs] == ["done"] * n_files  # every job accounted for
    per_file = Counter(
        (r["file_hash"], r["row_index"])
        for r in q(ws, "SELECT file_hash, row_index FROM ledger WHERE replay = 0")
    )
    assert all(c == 1 for c in per_file.values())  # no row twice
    assert len(per_file) == total  # none lost
    killed = q(ws, "SELECT summary FROM runs WHERE status = 'killed'")
    lost = [int(json.loads(r[0]).get("lost_records") or 0) for r in killed]
    assert all(n <= SAVE_STEPS for n in lost), lost  # only steps after the last checkpoint
    kinds = {r[0] for r in q(ws, "SELECT kind FROM events")}
    assert daemon_killed and "daemon.stale_lock" in kinds
    print(f"\n{done_kills} child kills + 1 daemon kill; {len(killed)} runs closed as killed, "
          f"lost steps per killed run {lost}; {total} rows, each in the ledger once")  # fmt: skip
    tally("faults", "kill -9 the training child at random points", tried=done_kills, held=done_kills,
          lost_steps=lost)  # fmt: skip
    tally("faults", "kill -9 the daemon, restart", tried=1, held=1)
