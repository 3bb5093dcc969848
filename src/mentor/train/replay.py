"""Replay: rows of the lineage's earlier files mixed into the current file's training.

Training on file after file can erase what earlier files taught (docs/forgetting.md).
``training.replay_fraction`` = f mixes ``f / (1 - f)`` replayed rows per own row into the file's
seeded order. Replayed rows are rows the lineage *trained* from earlier files (read back through
the ledger, never their held-out rows, which the forgetting matrix scores), tokenized again from
the file in ``data/done/`` (or wherever its name and hash are found).

Replayed rows never count as the file's progress: they sit in packs of their own placed after the
own pack they follow, with ``start == end ==`` that pack's end, so the file's position (``next_row``)
moves only with its own rows. Which replayed rows follow a pack is a function of the pack's
position alone (row ``k`` of the seeded replay list is due once ``k < n_replay x end / rows``),
so a resumed file rebuilds exactly the same packs from its saved row: it neither skips nor
repeats its own rows. Replayed rows are written to the ledger under their own file's hash with
``replay = 1`` (:func:`mentor.train.lineage.ledger_tail`).
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from mentor.config import Config
from mentor.data.packing import Pack, one_per_pack, pack_greedy
from mentor.data.tokenize import sha256_file
from mentor.data.validate import ValidationReport, validate_file
from mentor.paths import Workspace
from mentor.store import lineage as lineage_rows
from mentor.train.lineage import FilePlan, _rng

log = logging.getLogger(__name__)


def find_file(
    ws: Workspace, file_hash: str, name: str | None, extra: Iterable[Path] = ()
) -> Path | None:
    """The file with this content hash: ``extra`` paths first, then ``data/processing/``,
    ``data/done/`` and the inbox by name, then any file in ``data/done/``."""
    by_name: list[Path] = [Path(p) for p in extra]
    if name:  # trained as data/processing/<job>_<name>, archived as data/done/<stamp>_<name>
        flat = Path(name).name
        bare = flat.split("_", 1)[-1]
        for d in (ws.data / "processing", ws.done):
            by_name += sorted(d.glob(f"*{flat}"), reverse=True)
            by_name += sorted(d.glob(f"*_{bare}"), reverse=True)
        by_name.append(ws.inbox / flat)
    seen: set[Path] = set()
    for p in [*by_name, *sorted(ws.done.glob("*.jsonl"), reverse=True)]:
        if p in seen or not p.is_file():
            continue
        seen.add(p)
        if sha256_file(p) == file_hash:
            return p
    return None


@dataclass
class ReplaySet:
    """Replayed rows as extra dataset indices ``base + k`` (k = position in the seeded list)."""

    base: int
    sources: list[tuple[str, int]] = field(default_factory=list)  # (file hash, row) of base + k
    input_ids: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)

    def source(self, index: int) -> tuple[str, int] | None:
        """(file hash, row) of a replayed dataset index; None for the file's own rows."""
        return self.sources[index - self.base] if index >= self.base else None


class Rows:
    """The file's tokenized column followed by the replayed rows' (indexable like one list)."""

    def __init__(self, own: Any, extra: list[list[int]], base: int) -> None:
        self.own, self.extra, self.base = own, extra, base

    def __getitem__(self, i: int) -> list[int]:
        return self.extra[i - self.base] if i >= self.base else list(self.own[i])

    def __len__(self) -> int:
        return self.base + len(self.extra)


def data(report: ValidationReport, rs: ReplaySet | None) -> Any:
    """``(input_ids, labels)`` the trainer indexes: the file's, then the replayed rows'."""
    ids, labels = report.dataset["input_ids"], report.dataset["labels"]
    if rs is None:
        return ids, labels
    return Rows(ids, rs.input_ids, rs.base), Rows(labels, rs.labels, rs.base)


def _candidates(
    conn: sqlite3.Connection, lineage_id: int, file_hash: str, files: int
) -> list[tuple[str, int]]:
    earlier = [h for h in lineage_rows.trained_files(conn, lineage_id) if h != file_hash]
    out: list[tuple[str, int]] = []
    for h in earlier[-files:]:
        out += [(h, r) for r in sorted(set(lineage_rows.rows(conn, lineage_id, h)))]
    return out


def load(
    ws: Workspace,
    conn: sqlite3.Connection,
    cfg: Config,
    state: dict[str, Any],
    report: ValidationReport,
    plan: FilePlan,
    tokenizer: Any,
) -> ReplaySet | None:
    """The seeded replay list of this pass of the file (None when replay is off or there is
    nothing earlier to replay)."""
    f = cfg.training.replay_fraction
    base = len(report.dataset) if report.dataset is not None else 0
    if f <= 0 or not plan.order or not report.dataset:
        return None
    pool = _candidates(conn, int(state["lineage_id"]), report.file_hash, cfg.training.replay_files)
    if not pool:
        return None
    want = round(len(plan.order) * f / (1 - f))
    rng = _rng(cfg.training.seed, report.file_hash, 2, int(plan.entry.get("pass", 0)))
    picked: list[tuple[str, int]] = []
    while len(picked) < want:
        picked += [pool[int(i)] for i in rng.permutation(len(pool))]
    picked = picked[:want]
    rs = ReplaySet(base)
    tokens: dict[str, Any] = {}
    for h in dict.fromkeys(h for h, _ in picked):
        name = state["files"].get(h, {}).get("name")
        path = find_file(ws, h, name)
        if path is None:
            log.warning(
                "replay: %s (%s) not found in %s; its rows are not replayed", name, h[:12], ws.done
            )
            continue
        rep = validate_file(ws, cfg, path, tokenizer=tokenizer, write_quarantine=False)
        tokens[h] = rep.dataset
    for h, r in picked:
        ds = tokens.get(h)
        if ds is None or r >= len(ds) or int(ds[r]["length"]) > cfg.training.max_length:
            continue
        rs.sources.append((h, r))
        rs.input_ids.append(list(ds[r]["input_ids"]))
        rs.labels.append(list(ds[r]["labels"]))
    return rs if rs.sources else None


def mix(plan: FilePlan, rs: ReplaySet | None, max_length: int) -> FilePlan:
    """The plan's packs with the replayed rows due after each own pack (see the module doc)."""
    if rs is None or not plan.packs:
        return plan
    n, total = len(rs.sources), len(plan.order)
    lengths = {rs.base + k: len(ids) for k, ids in enumerate(rs.input_ids)}

    def due(pos: int) -> int:
        return min(n, math.floor(n * pos / total)) if total else 0

    packs: list[Pack] = []
    for p in plan.packs:
        packs.append(p)
        rows = [rs.base + k for k in range(due(p.start), due(p.end))]
        extra = (
            pack_greedy(rows, cast(Any, lengths), max_length)
            if plan.packing
            else one_per_pack(rows)
        )
        packs += [Pack(e.rows, p.end, p.end) for e in extra]
    plan.packs = packs
    plan.entry["replay_fraction"] = n / (n + total)
    return plan
