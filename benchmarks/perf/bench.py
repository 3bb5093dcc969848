"""``make bench``: every CPU benchmark beside its plain recipe, one JSON line each, and the floors.

The regression guard of issue 19: training, evaluation, serving and live previews run one after
the other (each in its own process, the tiny model, sizes cut so the whole run takes about 6-8
minutes on 2 shared cores), each prints its ratio against the plain recipe, and the run fails
when a ratio falls below its floor:

* training (``train.py``): mentor's non-padding tokens/s over the plain HF Trainer + PEFT recipe,
  floor 1.5;
* evaluation (``eval.py``): engine new tokens/s over one ``generate`` per puzzle, floor 5;
* serving (``serve.py``): 32 concurrent clients over one request at a time, floor 5;
* live previews (``preview_overhead.py``): training time without the previews over training time
  with them, taken inside one run (``1 / (1 + hook_share_in_run)``: wall clocks of two runs are
  noise on a shared machine); floor 1/1.05, the 5% overhead target (2.4% measured when it was
  set).

    python benchmarks/perf/bench.py                 # all four (make bench)
    python benchmarks/perf/bench.py --only train    # one
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import run_json


@dataclass(frozen=True)
class Bench:
    name: str
    args: list[str]
    floor: float
    timeout: float
    ratio: Callable[[dict[str, Any]], float | None]


def _key(name: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda figures: figures.get(name)


def _preview_ratio(figures: dict[str, Any]) -> float | None:
    share = figures.get("hook_share_in_run")
    return None if share is None else round(1.0 / (1.0 + share), 4)


BENCHES = [
    Bench(
        "train",
        ["benchmarks/perf/train.py", "--steps", "8", "--rows", "400"],
        1.5,
        600,
        _key("ratio"),
    ),
    Bench(
        "eval",
        ["benchmarks/perf/eval.py", "--limit", "96", "--plain-limit", "8"],
        5.0,
        600,
        _key("ratio"),
    ),
    Bench("serve", ["benchmarks/perf/serve.py"], 5.0, 400, _key("ratio")),
    Bench(
        "previews",
        ["benchmarks/perf/preview_overhead.py", "--steps", "600", "--repeats", "1"],
        round(1 / 1.05, 4),
        900,
        _preview_ratio,
    ),
]


def run(bench: Bench, timeout_scale: float = 1.0) -> dict[str, Any]:
    """One benchmark: its figures, ratio, floor and whether it held. The time limits only
    catch a hung benchmark (about 2x the time each takes on 2 shared cores)."""
    got = run_json(bench.args, bench.timeout * timeout_scale, env={"OMP_NUM_THREADS": "2"})
    figures = got["figures"] or {}
    ratio = bench.ratio(figures) if not got.get("error") else None
    line: dict[str, Any] = {
        "benchmark": bench.name,
        "ratio": ratio,
        "floor": bench.floor,
        "ok": ratio is not None and ratio >= bench.floor,
        "seconds": got["seconds"],
        "command": "python " + " ".join(bench.args),
    }
    if got.get("error"):
        line["error"], line["tail"] = got["error"], got.get("tail")
    line["figures"] = figures
    return line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", choices=[b.name for b in BENCHES])
    ap.add_argument("--timeout-scale", type=float, default=1.0, help="x every time limit")
    a = ap.parse_args(argv)
    failed = []
    for bench in BENCHES:
        if a.only and bench.name not in a.only:
            continue
        line = run(bench, a.timeout_scale)
        print(json.dumps(line), flush=True)
        if not line["ok"]:
            failed.append(bench.name)
    if failed:
        print(f"below the floor or broken: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
