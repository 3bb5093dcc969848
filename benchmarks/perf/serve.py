"""Serving throughput: 32 concurrent clients against one client at a time, on a live server.

Starts ``mentor serve`` as a subprocess on a free localhost port (a temporary workspace with the
tiny model unless ``--home`` is given), then measures requests/s and new tokens/s of

* ``sequential``: one client, one request after another (the plain recipe: no batching gain);
* ``concurrent``: ``--clients`` clients at once, each sending requests back to back (the batch
  worker gathers them and generates each batch with one ``engine.generate`` call).

The last line is one JSON object with both throughputs and ``ratio`` (concurrent / sequential).

    .venv/bin/python benchmarks/perf/serve.py [--clients 32] [--max-tokens 16] [--home DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, port: int, threads: int, batch_wait_ms: float) -> subprocess.Popen:
    env = dict(
        os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false"
    )
    cmd = [
        sys.executable, "-m", "mentor", "--home", str(home), "serve", "--port", str(port),
        "--set", f"serve.batch_wait_ms={batch_wait_ms}",
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=2).json().get("status") == "ok":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not start")


async def run_clients(url: str, clients: int, per_client: int, max_tokens: int) -> dict:
    latencies: list[float] = []
    tokens = 0
    errors = 0

    async def client(i: int, http: httpx.AsyncClient) -> None:
        nonlocal tokens, errors
        for k in range(per_client):
            t0 = time.perf_counter()
            r = await http.post(
                f"{url}/generate",
                json={
                    "prompt": f"client {i} request {k}: the model learns",
                    "max_tokens": max_tokens,
                },
            )
            if r.status_code != 200:
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)
            tokens += r.json()["tokens"]

    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        wall = time.perf_counter() - t0
    n = len(latencies)
    return {
        "clients": clients,
        "requests": n,
        "errors": errors,
        "seconds": round(wall, 3),
        "requests_per_s": round(n / wall, 3),
        "tokens_per_s": round(tokens / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if n else None,
        "p99_ms": round(statistics.quantiles(latencies, n=100)[98] * 1000, 1) if n > 1 else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--home", type=Path, help="Workspace to serve (default: a temporary one, tiny model)."
    )
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--per-client", type=int, default=8, help="Requests per concurrent client.")
    ap.add_argument("--sequential", type=int, default=32, help="Requests of the one-at-a-time run.")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="OMP threads of the server (CPU).")
    ap.add_argument("--batch-wait-ms", type=float, default=5.0)
    args = ap.parse_args()

    tmp = None
    home = args.home
    if home is None:
        tmp = tempfile.TemporaryDirectory(prefix="mentor-serve-bench-")
        from mentor.workspace import init_workspace

        home = init_workspace(Path(tmp.name) / "ws", model="tiny").home
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(home, port, args.threads, args.batch_wait_ms)
    try:
        wait_ready(url, proc)
        asyncio.run(run_clients(url, 1, 4, args.max_tokens))  # warm up
        asyncio.run(run_clients(url, args.clients, 1, args.max_tokens))
        seq = asyncio.run(run_clients(url, 1, args.sequential, args.max_tokens))
        conc = asyncio.run(run_clients(url, args.clients, args.per_client, args.max_tokens))
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if tmp is not None:
            tmp.cleanup()
    ratio = conc["requests_per_s"] / seq["requests_per_s"] if seq["requests_per_s"] else None
    print(
        f"sequential: {seq['requests_per_s']} req/s, {seq['tokens_per_s']} tok/s, p50 {seq['p50_ms']} ms"
    )
    print(
        f"concurrent ({args.clients} clients): {conc['requests_per_s']} req/s, "
        f"{conc['tokens_per_s']} tok/s, p50 {conc['p50_ms']} ms, p99 {conc['p99_ms']} ms"
    )
    print(
        json.dumps(
            {
                "benchmark": "serve",
                "model": "tiny-xs" if args.home is None else str(args.home),
                "max_tokens": args.max_tokens,
                "server_threads": args.threads,
                "sequential": seq,
                "concurrent": conc,
                "ratio": round(ratio, 2) if ratio else None,
            }
        )
    )


if __name__ == "__main__":
    main()
