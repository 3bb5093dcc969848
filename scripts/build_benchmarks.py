"""Regenerate the SYLLO benchmark suite byte for byte.

Usage::

    .venv/bin/python scripts/build_benchmarks.py      # same as: mentor bench build

Writes ``src/mentor/tasks/syllo/data/bench/*.jsonl`` and ``manifest.json``.
"""

from __future__ import annotations

import json

from mentor.tasks.syllo.bench import build_all


def main() -> None:
    manifest = build_all()
    print(json.dumps({"benchmarks": len(manifest), "puzzles": sum(e["count"] for e in manifest)}))


if __name__ == "__main__":
    main()
