"""``state.db`` used at once by a daemon-like writer process, a CLI-like writer process, the API
and the dashboard (HTTP, served by uvicorn) and ``mentor status``: no "database is locked"
reaches anyone. The writers hold write transactions of their own size (a ledger batch, an
event, a job update), as the daemon and the CLI do."""

from __future__ import annotations

import concurrent.futures as cf
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from helpers.reliability import size
from mentor import config as config_mod
from mentor.serve.app import create_app

pytestmark = pytest.mark.slow

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mentor.store import connect, events, jobs, kv, lineage, transaction
    db, seconds, who = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    conn = connect(db)
    with transaction(conn):
        lin = lineage.create(conn, "base")
    n, end, step = 0, time.time() + seconds, 0
    while time.time() < end:
        job = jobs.insert(conn, path=f"/x/{who}{n}", name=f"{who}{n}.jsonl")
        jobs.update(conn, job.id, state="queued", rows_total=64)
        step += 1
        with transaction(conn):  # a ledger batch: 64 rows in one write transaction
            lineage.record(conn, lin, f"{who}-hash", list(range(64 * step, 64 * step + 64)), step, who)
        events.emit(conn, "test.write", f"{who} {n}")
        kv.put(conn, "test." + who, str(n))
        n += 1
    print(n)
    """
)


def test_daemon_api_dashboard_and_cli_share_state_db(workspace, live_server, tally) -> None:
    ws = workspace
    seconds = size(3, 40)
    cfg = config_mod.load(ws.config_file)
    errors: list[str] = []
    codes: list[int] = []
    with live_server(create_app(ws, cfg)) as url:
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(ws.db), str(seconds), who],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for who in ("daemon", "cli")
        ]

        def reader(i: int) -> None:
            paths = [
                "/api/dash/status",
                "/api/dash/events",
                "/api/dash/overview",
                "/health",
                "/api/dash/runs",
                "/api/dash/alerts",
            ]
            end = time.time() + seconds
            with httpx.Client(base_url=url, timeout=60) as c:
                j = i
                while time.time() < end:
                    r = c.get(paths[j % len(paths)])
                    j += 1
                    codes.append(r.status_code)
                    if r.status_code >= 500 or "locked" in r.text:
                        errors.append(f"{r.request.url.path}: {r.status_code} {r.text[:200]}")

        def cli() -> None:
            end = time.time() + seconds
            while time.time() < end:
                for args in (["status", "--json"], ["pause"], ["resume"]):
                    r = subprocess.run(
                        [sys.executable, "-m", "mentor", "--home", str(ws.home), *args],
                        capture_output=True,
                        text=True,
                        timeout=120,
                    )
                    codes.append(200 if r.returncode == 0 else 500)
                    if r.returncode != 0 or "locked" in r.stdout + r.stderr:
                        errors.append(f"mentor {' '.join(args)}: {r.returncode} {r.stderr[-300:]}")

        with cf.ThreadPoolExecutor(4) as pool:
            futs = [pool.submit(reader, i) for i in range(3)] + [pool.submit(cli)]
            for f in futs:
                f.result()
        outs = [w.communicate(timeout=120) for w in writers]
    for w, (out, err) in zip(writers, outs, strict=True):
        assert w.returncode == 0 and "locked" not in err, err[-500:]
        assert int(out.strip()) > 0
    assert not errors, "\n".join(errors[:10])
    writes = sum(int(o.strip()) for o, _ in outs)
    print(f"\n{writes} write rounds, {len(codes)} reads and CLI calls in {seconds} s, 0 locked")
    tally(
        "shared",
        "state.db shared by daemon, CLI, API and dashboard",
        tried=len(codes) + writes,
        held=len(codes) + writes,
    )
