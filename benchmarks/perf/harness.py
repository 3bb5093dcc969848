"""Run a benchmark script in its own process and take its figures: the last JSON line it prints.

Every script under ``benchmarks/perf/`` ends its output with one JSON object; :func:`run_json`
runs one with a time limit and returns that object, or what went wrong (exit code, the last
lines of its output) so a harness can report a broken benchmark instead of dying with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def last_json(text: str) -> dict[str, Any] | None:
    """The last line of ``text`` that parses as a JSON object."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None


def run_json(
    args: list[str], timeout: float, env: dict[str, str] | None = None, *, want_json: bool = True
) -> dict[str, Any]:
    """``python ARGS`` from the repository root with ``src/`` first on the path; returns
    ``{"figures": ..., "seconds": ..., "rc": ...}`` plus ``error`` and ``tail`` on failure
    (``want_json=False``: a command judged by its exit code, such as pytest, with its tail)."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), full_env.get("PYTHONPATH", "")) if p
    )
    full_env.setdefault("HF_HUB_OFFLINE", "1")
    full_env.setdefault("TOKENIZERS_PARALLELISM", "false")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else err.stdout or ""
        return {
            "figures": last_json(out),
            "seconds": round(time.perf_counter() - t0, 1),
            "rc": 124,
            "error": f"timed out after {timeout:.0f} s",
            "tail": out.splitlines()[-5:],
        }
    seconds = round(time.perf_counter() - t0, 1)
    figures = last_json(proc.stdout)
    result: dict[str, Any] = {"figures": figures, "seconds": seconds, "rc": proc.returncode}
    if proc.returncode != 0 or (figures is None and want_json):
        result["error"] = f"exit {proc.returncode}" if proc.returncode else "no JSON line"
    if "error" in result or not want_json:
        result["tail"] = (proc.stdout + proc.stderr).splitlines()[-8:]
    return result
