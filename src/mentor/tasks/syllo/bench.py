"""The SYLLO benchmark suite: fixed JSONL splits shipped as package data.

Splits (``data/bench/``): ``syllo_easy_100``, ``syllo_medium_100``, ``syllo_hard_100``,
``syllo_novel_100`` (reserved novel words only, mixed tiers), ``syllo_levels_10x20`` (20 per
level) and ``syllo_probe_8`` (8 easy puzzles for live previews), plus ``manifest.json``
(name, version, count, sha256, tier/level, seed).

Regenerate them byte for byte with::

    .venv/bin/python scripts/build_benchmarks.py      # or: mentor bench build

Training generation refuses any puzzle whose :func:`canonical_hash` is in the suite.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from mentor.errors import DataError
from mentor.tasks.syllo.parse import parse_prompt
from mentor.tasks.syllo.puzzle import Puzzle

VERSION = 1
BENCHMARKS: tuple[dict[str, Any], ...] = (
    {"name": "syllo_easy_100", "tier": "easy", "count": 100, "seed": 9101},
    {"name": "syllo_medium_100", "tier": "medium", "count": 100, "seed": 9102},
    {"name": "syllo_hard_100", "tier": "hard", "count": 100, "seed": 9103},
    {"name": "syllo_novel_100", "tier": "mixed", "count": 100, "seed": 9104, "novel": True},
    {"name": "syllo_levels_10x20", "tier": "levels", "count": 200, "seed": 9105},
    {"name": "syllo_probe_8", "tier": "easy", "count": 8, "seed": 9106},
)


def bench_dir() -> Path:
    return Path(str(resources.files("mentor.tasks.syllo").joinpath("data/bench")))


def row_prompt(row: dict[str, Any]) -> str:
    """The user prompt of a chat row or a generator-API row (``prompt``)."""
    if isinstance(row.get("messages"), list):
        for m in row["messages"]:
            if isinstance(m, dict) and m.get("role") == "user":
                return str(m.get("content", ""))
    if isinstance(row.get("prompt"), str):
        return str(row["prompt"])
    raise DataError("row has neither a user message nor a 'prompt'")


def row_golden(row: dict[str, Any]) -> str | None:
    if isinstance(row.get("messages"), list):
        for m in row["messages"]:
            if isinstance(m, dict) and m.get("role") == "assistant":
                return str(m.get("content", ""))
    sol = row.get("solution")
    return sol if isinstance(sol, str) else None


def canonical_hash(item: str | Puzzle | dict[str, Any]) -> str:
    """Hash of a puzzle, invariant to its id and bank order (prompt, Puzzle or row)."""
    if isinstance(item, dict):
        item = row_prompt(item)
    p = parse_prompt(item) if isinstance(item, str) else item
    key = {
        "clues": sorted([w.clue, w.n_slots] for w in p.words),
        "bank": sorted(p.bank),
        "herrings": p.red_herring_count,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def build_rows(spec: dict[str, Any]) -> list[dict[str, Any]]:
    from mentor.tasks.syllo.generate import generate

    return generate(
        spec["count"],
        spec["seed"],
        tier=spec["tier"],
        novel=bool(spec.get("novel", False)),
        split=spec["name"],
        exclude_benchmarks=False,
    )


def rows_bytes(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def build_all(out_dir: Path | None = None) -> list[dict[str, Any]]:
    """Regenerate every split and the manifest (deterministic bytes); returns the manifest."""
    out = out_dir or bench_dir()
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for spec in BENCHMARKS:
        data = rows_bytes(build_rows(spec))
        (out / f"{spec['name']}.jsonl").write_bytes(data)
        entry = {
            "name": spec["name"],
            "version": VERSION,
            "count": spec["count"],
            "sha256": hashlib.sha256(data).hexdigest(),
            "tier": spec["tier"],
            "level": "1-10" if spec["tier"] == "levels" else None,
            "novel": bool(spec.get("novel", False)),
            "seed": spec["seed"],
            "file": f"{spec['name']}.jsonl",
        }
        manifest.append(entry)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    _manifest.cache_clear()
    benchmark_index.cache_clear()
    return manifest


@lru_cache(maxsize=1)
def _manifest() -> tuple[dict[str, Any], ...]:
    path = bench_dir() / "manifest.json"
    if not path.is_file():
        return ()
    return tuple(json.loads(path.read_text(encoding="utf-8")))


def list_benchmarks() -> list[dict[str, Any]]:
    """The manifest entries (name, version, count, sha256, tier, level, seed, file)."""
    return [dict(e) for e in _manifest()]


def load_benchmark(name: str) -> list[dict[str, Any]]:
    names = [e["name"] for e in _manifest()]
    if name not in names:
        raise DataError(f"unknown benchmark {name!r}", hint=f"one of: {', '.join(names)}")
    path = bench_dir() / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@lru_cache(maxsize=1)
def benchmark_index() -> dict[str, tuple[str, str]]:
    """canonical hash -> (benchmark name, puzzle id)."""
    idx: dict[str, tuple[str, str]] = {}
    for e in _manifest():
        for row in load_benchmark(e["name"]):
            idx.setdefault(canonical_hash(row), (e["name"], row["metadata"]["puzzle_id"]))
    return idx


def benchmark_hashes() -> set[str]:
    return set(benchmark_index())


def find_contamination(rows: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """(row index, benchmark name, benchmark puzzle id) for every row that is a benchmark puzzle.

    Rows whose prompt is not a SYLLO prompt are skipped.
    """
    idx = benchmark_index()
    hits = []
    for i, row in enumerate(rows):
        try:
            h = canonical_hash(row)
        except DataError:
            continue
        if h in idx:
            hits.append((i, *idx[h]))
    return hits
