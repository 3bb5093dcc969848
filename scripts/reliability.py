"""``make reliability``: run tests/reliability at full size and write docs/reliability.md.

Runs pytest with ``MENTOR_RELIABILITY=full`` (20 child kills, a 100 MB line, 2000 files at once,
a longer load run); each test appends what it tried and what held to a JSONL file, and this
script turns those lines into the table of ``docs/reliability.md``. ``--from FILE`` rebuilds the
page from an earlier run's lines without running anything. The last line printed is one JSON
object with the totals.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECTIONS = {
    "faults": "Faults injected",
    "shared": "state.db shared at once",
    "input": "Bad inputs",
    "api": "API: fuzz, auth, traversal, bodies",
    "load": "Load (localhost)",
}


def run_tests(out: Path, extra: list[str]) -> tuple[int, float]:
    env = dict(os.environ, MENTOR_RELIABILITY="full", MENTOR_RELIABILITY_OUT=str(out))
    env.setdefault("PYTHONPATH", str(REPO / "src"))
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout=3600",
           "--durations=0", "tests/reliability", *extra]  # fmt: skip
    rc = subprocess.call(cmd, cwd=REPO, env=env)
    return rc, time.monotonic() - t0


def render(lines: list[dict], *, seconds: float | None, rc: int | None) -> tuple[str, dict]:
    rows = ["| area | what | tried | held | figures |", "|---|---|---:|---:|---|"]
    totals: dict[str, list[int]] = {}
    for sec, title in SECTIONS.items():
        for x in (x for x in lines if x["section"] == sec):
            figs = {k: v for k, v in x.items() if k not in
                    {"section", "name", "tried", "held", "full", "test", "ts"}}  # fmt: skip
            fig = ", ".join(f"{k} {v}" for k, v in figs.items())
            rows.append(f"| {title} | {x['name']} | {x['tried']} | {x['held']} | {fig} |")
            t = totals.setdefault(sec, [0, 0])
            t[0] += int(x["tried"])
            t[1] += int(x["held"])
    load = next((x for x in lines if x["section"] == "load"), {})
    summary = {
        "faults_injected": totals.get("faults", [0, 0])[0],
        "faults_survived": totals.get("faults", [0, 0])[1],
        "shared_db_operations": totals.get("shared", [0, 0])[0],
        "shared_db_failed": totals.get("shared", [0, 0])[0] - totals.get("shared", [0, 0])[1],
        "bad_inputs_tried": totals.get("input", [0, 0])[0],
        "bad_inputs_handled": totals.get("input", [0, 0])[1],
        "api_requests": totals.get("api", [0, 0])[0] + totals.get("load", [0, 0])[0],
        "api_5xx": sum(int(x.get("errors", 0)) for x in lines if x["section"] == "load")
        + totals.get("api", [0, 0])[0]
        - totals.get("api", [0, 0])[1],
        "load_p50_ms": load.get("p50_ms"),
        "load_p99_ms": load.get("p99_ms"),
        "full_size": all(x.get("full") for x in lines) if lines else False,
        "pytest_rc": rc,
        "seconds": round(seconds, 1) if seconds is not None else None,
    }
    head = [
        "# Reliability: what was tried and what held",
        "",
        "Written by `make reliability` (`scripts/reliability.py`): the tests in `tests/reliability/`",
        "at full size (`MENTOR_RELIABILITY=full`). The default test suite runs a small subset of",
        "the same tests. Regenerate this page with `make reliability`; do not edit it by hand.",
        "",
        "| totals | |",
        "|---|---|",
        f"| faults injected / survived | {summary['faults_injected']} / {summary['faults_survived']} |",
        f"| state.db operations at once / failed | {summary['shared_db_operations']} / {summary['shared_db_failed']} |",
        f"| bad inputs tried / handled | {summary['bad_inputs_tried']} / {summary['bad_inputs_handled']} |",
        f"| API requests / 5xx | {summary['api_requests']} / {summary['api_5xx']} |",
        f"| load p50 / p99 | {summary['load_p50_ms']} ms / {summary['load_p99_ms']} ms |",
        f"| full size | {summary['full_size']} |",
        f"| run | pytest exit {rc}, {summary['seconds']} s |"
        if rc is not None
        else "| run | rebuilt from a run file (`--from`; see the note) |",
        "",
        "## Each test",
        "",
    ]
    notes = [
        "",
        "Held means: a fault left every job accounted for and each row in the ledger once (only the",
        "steps after the last checkpoint trained again); a bad input was refused with a `file:line`",
        "reason in `data/failed/` (or queued where the input is fine: a BOM, CRLF, odd names) and",
        "nothing outside the workspace was read, moved or written; a request got no 5xx, no key",
        "echoed or logged. Timings are from a shared 2-core machine: read them as an upper bound.",
        "",
    ]
    return "\n".join(head + rows + notes), summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="src", type=Path, help="lines of an earlier run (JSONL)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "reliability.md")
    ap.add_argument("--note", default="", help="a line added under the table (a partial run)")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -k kill)")
    a = ap.parse_args()
    rc: int | None = None
    seconds: float | None = None
    src = a.src
    if src is None:
        src = REPO / "build" / "reliability" / f"run-{int(time.time())}.jsonl"
        src.parent.mkdir(parents=True, exist_ok=True)
        rc, seconds = run_tests(src, a.pytest_args)
    lines = (
        [json.loads(x) for x in src.read_text().splitlines() if x.strip()] if src.exists() else []
    )
    page, summary = render(lines, seconds=seconds, rc=rc)
    a.out.write_text(page + (f"\n**Note.** {a.note}\n" if a.note else ""))
    print(f"wrote {a.out} from {src}")
    print(json.dumps(summary))
    return rc or 0


if __name__ == "__main__":
    raise SystemExit(main())
