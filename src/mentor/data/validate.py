"""Validate a training file before anything is trained (DESIGN "The way of one file").

The whole file is checked, never a sample: schema errors as ``file:line: reason``; token lengths
of the exact chat-templated training text (the same tokenization training uses); rows longer than
``training.max_length`` refused (or, with ``on_overlength=drop``, written to the quarantine with
their line numbers); rows whose trained answer is empty or whitespace refused (or, with
``data.on_empty_answer=drop``, quarantined likewise): the end-of-turn token alone would teach the
model to answer nothing; exact duplicates; benchmark contamination; estimated tokens and time.

A file is trained only after :meth:`ValidationReport.raise_if_refused` passes; if validation
itself raises, the caller never trains (no fail-open path exists: training takes its rows from
the report).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mentor.config import Config
from mentor.data.chat import ChatRenderer, Message
from mentor.data.formats import RowFormat
from mentor.data.tokenize import ParsedFile, read_jsonl, tokenize_rows
from mentor.errors import DataError
from mentor.paths import Workspace

log = logging.getLogger(__name__)

MAX_LISTED = 20  # errors / duplicates / hits listed in a report (all are counted)


def _stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {"p50": 0, "p95": 0, "p99": 0, "max": 0, "mean": 0}
    a = np.asarray(values)
    return {
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "p99": float(np.percentile(a, 99)),
        "max": int(a.max()),
        "mean": round(float(a.mean()), 1),
    }


def _histogram(values: list[int], max_length: int, bins: int = 10) -> list[dict[str, int]]:
    if not values:
        return []
    top = max(max_length, max(values))
    edges = np.linspace(0, top, bins + 1)
    counts, _ = np.histogram(np.asarray(values), bins=edges)
    return [
        {"lo": int(edges[i]), "hi": int(edges[i + 1]), "count": int(c)}
        for i, c in enumerate(counts)
    ]


@dataclass
class ValidationReport:
    path: str
    file_hash: str
    max_length: int
    on_overlength: str
    rows_total: int = 0  # non-blank lines
    rows_valid: int = 0  # rows that parse and render
    rows_trainable: int = 0  # valid rows within max_length (after dropping)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    overlength: list[dict[str, int]] = field(default_factory=list)  # {line, tokens}
    overlength_count: int = 0
    empty_answers: list[int] = field(default_factory=list)  # lines (listed up to MAX_LISTED)
    empty_answer_count: int = 0
    quarantine: str | None = None  # the over-long rows dropped
    quarantine_empty: str | None = None  # the empty-answer rows dropped
    lengths: dict[str, dict[str, float]] = field(default_factory=dict)  # prompt/answer/total
    histogram: list[dict[str, int]] = field(default_factory=list)
    duplicates: int = 0
    duplicate_lines: list[list[int]] = field(default_factory=list)  # [line, line of first copy]
    contamination: int | None = None  # None: no checker available
    contamination_hits: list[dict[str, Any]] = field(default_factory=list)
    boundary_merges: int = 0  # tokens straddling a prompt/answer boundary
    tokens: int = 0  # input tokens of the trainable rows
    trained_tokens: int = 0  # label (answer) tokens of the trainable rows
    tokens_per_s: float | None = None
    tokens_per_s_source: str | None = None
    est_seconds: float | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # why the file is refused (empty: ok)
    # Not serialised: what training takes from the report.
    parsed: ParsedFile | None = field(default=None, repr=False)
    dataset: Any = field(default=None, repr=False)  # tokenized rows (datasets.Dataset)
    keep: list[int] = field(default_factory=list, repr=False)  # dataset indices to train

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        skip = {"parsed", "dataset", "keep"}
        out = {k: v for k, v in self.__dict__.items() if k not in skip}
        out["ok"] = self.ok
        return out

    def raise_if_refused(self) -> None:
        if self.problems:
            raise DataError("; ".join(self.problems))


def _row_key(row: Any) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _contamination(parsed: ParsedFile) -> tuple[int | None, list[dict[str, Any]]]:
    try:
        from mentor.tasks.syllo.bench import find_contamination
    except ImportError:  # the SYLLO task is optional for generic data
        return None, []
    rows = [{"messages": r} if isinstance(r, list) else {"prompt": r} for r in parsed.rows]
    hits = find_contamination(rows)
    listed = [
        {"line": parsed.lines[i], "benchmark": bench, "id": pid}
        for i, bench, pid in hits[:MAX_LISTED]
    ]
    return len(hits), listed


def blank_answer(row: list[Message] | str, train_on: str) -> bool:
    """Whether a trained answer of the row is empty or whitespace (text rows: the text)."""
    if isinstance(row, str):
        return not row.strip()
    turns = [m for m in row if m["role"] == "assistant"]
    if train_on == "last_assistant":
        turns = turns[-1:]
    return any(not m["content"].strip() for m in turns)


def _quarantine(
    ws: Workspace, path: Path, parsed: ParsedFile, rows: list[int], kind: str, **extra: list[int]
) -> str:
    """Write the dropped rows, each with its line, to ``ws.quarantine/<stem>.<kind>.jsonl``."""
    qpath = ws.quarantine / f"{path.stem}.{kind}.jsonl"
    qpath.parent.mkdir(parents=True, exist_ok=True)
    with open(qpath, "w", encoding="utf-8") as f:
        for i in rows:
            rec = {"line": parsed.lines[i], **{k: v[i] for k, v in extra.items()}}
            rec["row"] = json.loads(parsed.raw[i])
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return str(qpath)


def _check_empty(
    report: ValidationReport, ws: Workspace | None, cfg: Config, path: Path, write: bool
) -> set[int]:
    """Rows with an empty trained answer: refused, or dropped (returned) under ``drop``."""
    parsed = report.parsed
    assert parsed is not None
    policy = cfg.data.on_empty_answer
    empty = [i for i, row in enumerate(parsed.rows) if blank_answer(row, cfg.chat.train_on)]
    report.empty_answer_count = len(empty)
    report.empty_answers = [parsed.lines[i] for i in empty[:MAX_LISTED]]
    if not empty:
        return set()
    if policy == "refuse":
        report.problems.append(
            f"{path}:{parsed.lines[empty[0]]}: the assistant answer is empty or whitespace "
            f"({len(empty)} row(s)); nothing would be learned but to answer nothing"
            " -- fix the rows or set data.on_empty_answer=drop"
        )
    elif ws is not None and write:
        report.quarantine_empty = _quarantine(ws, path, parsed, empty, "empty")
    return set(empty)


def measured_tokens_per_s(ws: Workspace | None) -> float | None:
    """The last trained tokens/s recorded by training in ``state.db``."""
    if ws is None or not ws.db.is_file():
        return None
    from mentor.store import connect_readonly, kv

    conn = connect_readonly(ws.db)
    if conn is None:
        return None
    try:
        return kv.get_float(conn, kv.Key.TRAIN_TOKENS_PER_S)
    finally:
        conn.close()


def validate_file(
    ws: Workspace | None,
    cfg: Config,
    path: Path,
    *,
    tokenizer: Any,
    on_overlength: str | None = None,
    tokens_per_s: float | None = None,
    write_quarantine: bool = True,
) -> ValidationReport:
    """Check the whole file; the report says whether it may be trained (``report.ok``).

    ``on_overlength`` overrides ``data.on_overlength`` (refuse | drop). With drop, over-long rows
    go to ``ws.quarantine/<name>.overlength.jsonl`` (each with its ``line``) and are not trained.
    """
    t0 = time.perf_counter()
    path = Path(path)
    policy = on_overlength or cfg.data.on_overlength
    if policy not in ("refuse", "drop"):
        raise DataError(f"--on-overlength {policy!r}: expected refuse or drop")
    parsed = read_jsonl(path, RowFormat.from_config(cfg.data), cfg.data.max_line_bytes)
    report = ValidationReport(
        path=str(path),
        file_hash=parsed.file_hash,
        max_length=cfg.training.max_length,
        on_overlength=policy,
        rows_total=parsed.n_lines,
        parsed=parsed,
    )
    report.error_count = len(parsed.errors)
    report.errors = parsed.errors[:MAX_LISTED]
    if parsed.errors:
        more = f" (and {len(parsed.errors) - 1} more)" if len(parsed.errors) > 1 else ""
        report.problems.append(f"{parsed.errors[0]}{more}")
    if parsed.n_lines == 0:
        report.problems.append(f"{path}: no rows")
    renderer = ChatRenderer.from_config(tokenizer, cfg.chat)
    try:
        report.dataset = tokenize_rows(
            renderer,
            parsed,
            batch_size=cfg.data.tokenize_batch_size,
            cache_dir=ws.cache if ws is not None else None,
        )
    except DataError as err:
        report.problems.append(str(err))
        report.seconds = time.perf_counter() - t0
        return report
    dropped = _check_lengths(report, ws, path, write_quarantine)
    dropped |= _check_empty(report, ws, cfg, path, write_quarantine)
    report.keep = [i for i in range(len(report.dataset)) if i not in dropped]
    report.rows_trainable = len(report.keep)
    _count_duplicates(report, parsed)
    report.contamination, report.contamination_hits = _contamination(parsed)
    _estimate(report, ws, cfg, tokens_per_s)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def _check_lengths(
    report: ValidationReport, ws: Workspace | None, path: Path, write: bool
) -> set[int]:
    """Token lengths of the exact training text; over-long rows (returned: never trained) refuse
    the file, or are dropped to the quarantine."""
    parsed, ds, max_length = report.parsed, report.dataset, report.max_length
    assert parsed is not None
    lengths: list[int] = list(ds["length"])
    answers: list[int] = list(ds["answer_tokens"])
    report.rows_valid = len(ds)
    report.boundary_merges = int(sum(ds["straddle"]))
    report.lengths = {
        "prompt": _stats(list(ds["prompt_tokens"])),
        "answer": _stats(answers),
        "total": _stats(lengths),
    }
    report.histogram = _histogram(lengths, max_length)
    for i in [i for i, n in enumerate(answers) if n == 0][:1]:
        report.problems.append(
            f"{path}:{parsed.lines[i]}: no answer token carries loss (the chat template "
            "renders no assistant turn)"
        )
    over = [i for i, n in enumerate(lengths) if n > max_length]
    report.overlength_count = len(over)
    report.overlength = [{"line": parsed.lines[i], "tokens": lengths[i]} for i in over[:MAX_LISTED]]
    if over and report.on_overlength == "refuse":
        first = over[0]
        report.problems.append(
            f"{path}:{parsed.lines[first]}: {lengths[first]} tokens > training.max_length "
            f"{max_length} ({len(over)} row(s) too long; nothing is truncated)"
            " -- raise training.max_length or pass --on-overlength drop"
        )
    elif over and ws is not None and write:
        report.quarantine = _quarantine(ws, path, parsed, over, "overlength", tokens=lengths)
    return set(over)


def _count_duplicates(report: ValidationReport, parsed: ParsedFile) -> None:
    seen: dict[str, int] = {}
    for i, row in enumerate(parsed.rows):
        key = _row_key(row)
        if key in seen:
            report.duplicates += 1
            if len(report.duplicate_lines) < MAX_LISTED:
                report.duplicate_lines.append([parsed.lines[i], parsed.lines[seen[key]]])
        else:
            seen[key] = i


def _estimate(
    report: ValidationReport, ws: Workspace | None, cfg: Config, tokens_per_s: float | None
) -> None:
    """Tokens of the trainable rows and the time they take at the given or last measured rate."""
    lengths, answers = list(report.dataset["length"]), list(report.dataset["answer_tokens"])
    report.tokens = int(sum(lengths[i] for i in report.keep))
    report.trained_tokens = int(sum(answers[i] for i in report.keep))
    if tokens_per_s is not None:
        set_rate(report, cfg, tokens_per_s, "given")
    else:
        measured = measured_tokens_per_s(ws)
        if measured:
            set_rate(report, cfg, measured, "measured (last training)")


def set_rate(report: ValidationReport, cfg: Config, tokens_per_s: float, source: str) -> None:
    """The training time estimate from a rate (tokens/s) and where the rate came from."""
    report.tokens_per_s, report.tokens_per_s_source = round(tokens_per_s, 1), source
    if tokens_per_s > 0:
        seconds = report.tokens * cfg.training.epochs_per_file / tokens_per_s
        report.est_seconds = float(f"{seconds:.3g}")  # 3 significant digits: a tiny file is not 0 s
