"""Evaluation data: rows -> items (stable ids, tiers, goldens), benchmarks, task sizing.

A *task* is data + evaluator + generation settings + version (:class:`Task`). Benchmarks come
from :mod:`mentor.tasks.syllo` (versioned by their manifest); a user file is versioned by the
sha256 of its rows.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.data.chat import Message, messages_from_row
from mentor.data.jsonl import read_objects
from mentor.errors import DataError

SYLLO_PREFIX = "SYLLO Puzzle"
TIERS = ("easy", "medium", "hard")


@dataclass
class Item:
    """One evaluation item: the conversation (golden answer last), its id and its tier."""

    id: str
    messages: list[Message]
    golden: str | None
    tier: str = "all"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_messages(self) -> list[Message]:
        if self.messages and self.messages[-1]["role"] == "assistant":
            return self.messages[:-1]
        return self.messages

    @property
    def user_text(self) -> str:
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""


@dataclass
class Task:
    """What one evaluation of one data set runs."""

    name: str  # benchmark name or file stem
    version: str  # manifest version + sha, or the rows' sha256
    items: list[Item]
    evaluators: list[str]
    max_new_tokens: int | None = None  # resolved by the runner when None


def syllo_api() -> Any:
    """The SYLLO task module (scorer + benchmark suite), imported on first use."""
    import mentor.tasks.syllo as syllo

    return syllo


def _tier(row: dict[str, Any]) -> str:
    meta: dict[str, Any] = row["metadata"] if isinstance(row.get("metadata"), dict) else {}
    for src in (meta, row):
        for key in ("tier", "difficulty"):
            v = src.get(key)
            if isinstance(v, str) and v:
                return v.lower()
    if "level" in row:
        return f"level{row['level']}"
    return "all"


def _row_id(row: dict[str, Any], messages: list[Message]) -> str:
    meta: dict[str, Any] = row["metadata"] if isinstance(row.get("metadata"), dict) else {}
    for src in (meta, row):
        for key in ("puzzle_id", "id"):
            v = src.get(key)
            if isinstance(v, str | int) and str(v):
                return str(v)
    prompt = json.dumps(messages[:-1], ensure_ascii=False, sort_keys=True)
    return "h" + hashlib.sha256(prompt.encode()).hexdigest()[:15]


def items_from_rows(rows: list[dict[str, Any]], source: str = "data") -> list[Item]:
    """Rows with a golden answer -> items. Ids are the row's puzzle_id/id, else a prompt hash."""
    items: list[Item] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=1):
        msgs = messages_from_row(row, f"{source}:{n}")
        if isinstance(msgs, str):
            raise DataError(
                f"{source}:{n}: a 'text' row has no prompt to evaluate", hint="use chat rows"
            )
        golden = msgs[-1]["content"] if msgs[-1]["role"] == "assistant" else None
        rid = _row_id(row, msgs)
        if rid in seen:
            seen[rid] += 1
            rid = f"{rid}#{seen[rid]}"
        else:
            seen[rid] = 1
        meta: dict[str, Any] = row["metadata"] if isinstance(row.get("metadata"), dict) else {}
        items.append(Item(rid, msgs, golden, _tier(row), dict(meta)))
    return items


def is_syllo(items: list[Item]) -> bool:
    return bool(items) and all(i.user_text.startswith(SYLLO_PREFIX) for i in items)


def evaluators_for(items: list[Item]) -> list[str]:
    """SYLLO rows -> the layered SYLLO scorer; any other chat data -> exact match + perplexity."""
    return ["syllo"] if is_syllo(items) else ["exact_match", "perplexity"]


def rows_sha(rows: list[dict[str, Any]]) -> str:
    data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    return hashlib.sha256(data.encode()).hexdigest()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = [obj for _, obj in read_objects(path)]
    if not rows:
        raise DataError(f"{path}: no rows", hint="one JSON object per line")
    return rows


def data_task(rows: list[dict[str, Any]], name: str) -> Task:
    items = items_from_rows(rows, name)
    return Task(name, rows_sha(rows)[:16], items, evaluators_for(items))


def file_task(path: Path) -> Task:
    return data_task(read_jsonl(path), Path(path).stem)


def benchmark_manifest() -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in syllo_api().list_benchmarks()}


def benchmark_task(name: str) -> Task:
    manifest = benchmark_manifest()
    if name not in manifest:
        raise DataError(
            f"unknown benchmark {name!r}", hint=f"one of: {', '.join(manifest) or '(none built)'}"
        )
    entry = manifest[name]
    rows = syllo_api().load_benchmark(name)
    items = items_from_rows(rows, name)
    tier = entry.get("tier")
    if tier in TIERS:
        for it in items:
            it.tier = str(tier)
    version = f"v{entry.get('version', 0)}-{str(entry.get('sha256', rows_sha(rows)))[:12]}"
    return Task(name, version, items, evaluators_for(items))


def subset(task: Task, per_tier: int, seed: int = 0) -> Task:
    """A fixed seeded subset: ``per_tier`` items of each tier (same items every call)."""
    by_tier: dict[str, list[Item]] = {}
    for it in task.items:
        by_tier.setdefault(it.tier, []).append(it)
    keep: set[str] = set()
    for tier, its in sorted(by_tier.items()):
        ids = sorted(i.id for i in its)
        rng = random.Random(f"{seed}:{task.name}:{tier}")
        keep.update(rng.sample(ids, min(per_tier, len(ids))))
    items = [i for i in task.items if i.id in keep]
    return Task(task.name, task.version, items, task.evaluators, task.max_new_tokens)


def size_max_new_tokens(
    tokenizer: Any, goldens: list[str], *, margin: float = 0.25, extra: int = 32
) -> int:
    """A new-token cap that fits the longest golden answer with margin (never cut answers)."""
    if not goldens:
        return 256
    lengths = tokenizer(goldens, add_special_tokens=False)["input_ids"]
    longest = max(len(x) for x in lengths) + 1  # + the end-of-turn token
    cap = math.ceil(longest * (1 + margin)) + extra
    return int(math.ceil(cap / 32) * 32)


def task_max_new_tokens(tokenizer: Any, task: Task, configured: int | None) -> int:
    """``eval.max_new_tokens`` if set; else sized to the task.

    SYLLO: long enough for the full golden of the hardest tier (the hard benchmark's longest
    answers and this task's own), so no answer is cut short (lessons item 11).
    """
    if configured:
        return configured
    goldens = [i.golden for i in task.items if i.golden]
    if task.evaluators == ["syllo"]:
        try:
            hard = syllo_api().load_benchmark("syllo_hard_100")
            goldens += [
                m["content"]
                for r in hard
                for m in r.get("messages", [])
                if m["role"] == "assistant"
            ]
        except Exception:  # benchmarks not built: size to the task's own goldens
            pass
    return size_max_new_tokens(tokenizer, goldens)
