"""The run folder: lost steps cut out of metrics.jsonl, dead runs closed as killed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from mentor.paths import RunFolder, Workspace, atomic_write_json
from mentor.store import connect, runs
from mentor.train.run_folder import LOST_METRICS, cut_lost_steps, reconcile


def test_cut_lost_steps_moves_the_tail_aside(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "r")
    folder.path.mkdir()
    lines = [json.dumps({"step": s, "loss": 1.0}) for s in range(1, 6)]
    folder.metrics.write_text("\n".join(lines) + '\n{"step": 6, "lo\n')  # torn by a kill
    assert cut_lost_steps(folder, 3) == 3
    assert [json.loads(x)["step"] for x in folder.metrics.read_text().splitlines()] == [1, 2, 3]
    lost = (folder.path / LOST_METRICS).read_text().splitlines()
    assert [json.loads(x)["step"] for x in lost[:2]] == [4, 5] and lost[2].startswith('{"step": 6')
    assert cut_lost_steps(folder, 3) == 0  # nothing more


def _run(ws: Workspace, conn, run_id: str, pid: int, lineage_id: int, start: int) -> RunFolder:
    folder = ws.run_folder(run_id)
    folder.path.mkdir(parents=True)
    now = time.time()
    meta = {"pid": pid, "started_at": now, "lineage_id": lineage_id, "global_step_start": start}
    atomic_write_json(folder.meta, meta)
    steps = range(start + 1, start + 5)
    folder.metrics.write_text("".join(json.dumps({"step": s}) + "\n" for s in steps))
    runs.start(conn, run_id, job_id=None, dir=str(folder.path), started_at=now)
    return folder


def test_reconcile_closes_only_runs_whose_process_is_gone(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.runs.mkdir(parents=True)
    conn = connect(tmp_path / "state.db")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        time.sleep(0.05)  # the live process started before its run
        _run(ws, conn, "live", alive.pid, 1, 0)
        dead = _run(ws, conn, "dead", gone.pid, 1, 10)
        other = _run(ws, conn, "other-lineage", gone.pid, 7, 0)
        runs.checkpointed(conn, "other-lineage", 2)
        closed = reconcile(ws, conn, {"lineage_id": 1, "global_step": 12})
    finally:
        alive.kill()
        alive.wait()
    assert sorted(closed) == ["dead", "other-lineage"]
    assert runs.get(conn, "live").status == "running"
    got = runs.get(conn, "dead")
    assert got.status == "killed" and got.summary["lost_after_step"] == 12
    assert [json.loads(x)["step"] for x in dead.metrics.read_text().splitlines()] == [11, 12]
    assert runs.get(conn, "other-lineage").summary["lost_after_step"] == 2  # its own checkpoint
    assert [json.loads(x)["step"] for x in other.metrics.read_text().splitlines()] == [1, 2]
    assert json.loads(dead.summary.read_text())["status"] == "killed"
