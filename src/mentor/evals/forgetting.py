"""The forgetting matrix and its gate (issue 15, docs/forgetting.md).

After each version, the held-out rows of the lineage's earlier files are scored again (per-row
NLL on the training mask through ``Engine.nll``; for SYLLO files also the generation metrics on
``forgetting.sample`` rows) together with a general-text probe shipped with the package
(``evals/data/general_probe.jsonl``, sentences from the lexicon's WordNet examples). Each file is
stored per version in ``state.db`` (:mod:`mentor.store.forgetting`); its *reference* is its first
stored score in the lineage, i.e. the version that trained it (the probe's is the untrained base).

The gate (:func:`gate`) refuses a version whose mean per-row loss on an earlier file, or on the
probe, rose by more than ``forgetting.margin`` significantly: a one-sided Wilcoxon signed-rank
test on the paired per-row differences minus the margin, at ``forgetting.alpha``. The version is
kept, not promoted, and the reason names the file and the size of the loss.

The cost is bounded: ``max_files`` earlier files x ``rows_per_file`` rows (the same seeded rows
every version, so versions pair row by row) + ``probe_rows``, scored by teacher forcing, plus
``sample`` generations per SYLLO file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.config import Config
from mentor.data.validate import validate_file
from mentor.engine.base import BASE_ADAPTER, Engine, Interrupt
from mentor.evals.gate import GateDecision
from mentor.evals.runner import run_task
from mentor.evals.stats import paired_bootstrap
from mentor.evals.tasks import Item, Task, is_syllo, items_from_rows
from mentor.paths import Workspace, atomic_write_json, sha256_file
from mentor.store import connect, transaction
from mentor.store import forgetting as store
from mentor.store.events import emit
from mentor.train.lineage import _rng, split_report
from mentor.train.replay import find_file

log = logging.getLogger(__name__)

PROBE_PATH = Path(__file__).with_name("data") / "general_probe.jsonl"
PROBE_HASH = "probe:general"
PROBE_NAME = "general probe"
GEN_KEYS = ("json_valid", "word_acc", "solved")


@dataclass
class FileCheck:
    """One file's scores at one version, compared with its reference."""

    file_hash: str
    name: str
    kind: str
    n: int
    loss: float
    metrics: dict[str, float] = field(default_factory=dict)
    ref_version: str | None = None
    ref_loss: float | None = None
    delta: float | None = None  # mean per-row loss change since the reference
    ci: tuple[float, float] | None = None
    p_value: float | None = None  # one-sided: the rise exceeds the margin
    significant: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self), ci=list(self.ci) if self.ci else None)


def lineage_state(weights: Path | None) -> dict[str, Any] | None:
    """The lineage state saved with a version (``state/``) or with ``current``; ``weights`` is
    the version's adapter, or its whole model for a full fine-tune."""
    if weights is None:
        return None
    for p in (weights / "mentor_state.json", weights.parent / "state" / "mentor_state.json"):
        if p.is_file():
            data = json.loads(p.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else None
    return None


def probe_rows(n: int) -> list[dict[str, Any]]:
    lines = PROBE_PATH.read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines[:n] if x.strip()]


def heldout_sample(
    ws: Workspace, cfg: Config, path: Path, tokenizer: Any
) -> tuple[str, list[dict[str, Any]]]:
    """(file hash, up to ``rows_per_file`` held-out rows): the same seeded rows every version.

    Choosing them validates the whole file (the split depends on which rows are trainable), so
    the choice is cached in ``data/cache/forgetting/`` under the file's content hash and every
    setting the split depends on: each file is validated once, not once per version."""
    file_hash = sha256_file(path)
    settings = [cfg.data.model_dump(mode="json"), cfg.chat.model_dump(mode="json"),
                cfg.training.max_length, cfg.training.seed, cfg.forgetting.rows_per_file]  # fmt: skip
    key = hashlib.sha256(json.dumps([file_hash, settings], sort_keys=True).encode()).hexdigest()
    cached = ws.cache / "forgetting" / f"{key[:32]}.json"
    if cached.is_file():
        return file_hash, list(json.loads(cached.read_text(encoding="utf-8")))
    report = validate_file(ws, cfg, path, tokenizer=tokenizer, write_quarantine=False)
    if report.parsed is None:
        return report.file_hash, []
    held, _ = split_report(report, cfg)
    perm = _rng(cfg.training.seed, report.file_hash, 3).permutation(len(held))
    chosen = sorted(held[int(i)] for i in perm[: cfg.forgetting.rows_per_file])
    rows = [json.loads(report.parsed.raw[i]) for i in chosen]
    cached.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cached, rows)
    return report.file_hash, rows


def score(
    engine: Engine,
    cfg: Config,
    name: str,
    items: list[Item],
    *,
    adapter: str | None = None,
    interrupt: Interrupt | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """(per-row loss by item id, mean generation metrics of the SYLLO sample)."""
    run = run_task(
        engine,
        Task(f"forgetting:{name}", "", items, ["perplexity"]),
        items,
        cfg=cfg,
        adapter=adapter,
        interrupt=interrupt,
    )
    losses = {r.item_id: float(r.scores["loss"]) for r in run.rows if "loss" in r.scores}
    gen: dict[str, float] = {}
    sample = items[: cfg.forgetting.sample]
    if sample and is_syllo(items):
        g = run_task(
            engine,
            Task(f"forgetting:{name}", "", sample, ["syllo"]),
            sample,
            cfg=cfg,
            adapter=adapter,
            interrupt=interrupt,
        )
        gen = {k: sum(r.scores.get(k, 0.0) for r in g.rows) / len(g.rows) for k in GEN_KEYS}
    return losses, gen


def compare(check: FileCheck, cand: dict[str, float], ref: store.ForgetRow, cfg: Config) -> None:
    """Fill the check's change since its reference and the one-sided test against the margin."""
    from scipy.stats import wilcoxon

    ids = sorted(set(cand) & set(ref.row_losses))
    a = [cand[i] for i in ids if not (math.isnan(cand[i]) or math.isnan(ref.row_losses[i]))]
    b = [
        ref.row_losses[i] for i in ids if not (math.isnan(cand[i]) or math.isnan(ref.row_losses[i]))
    ]
    check.ref_version = ref.version
    if not a:
        return
    margin = cfg.forgetting.margin
    d = [x - y for x, y in zip(a, b, strict=True)]
    check.ref_loss = sum(b) / len(b)
    check.delta = sum(d) / len(d)
    check.ci = paired_bootstrap(a, b, n_boot=2000)
    shifted = [x - margin for x in d]
    p = 1.0 if not any(shifted) else float(wilcoxon(shifted, alternative="greater").pvalue)
    check.p_value = p
    check.significant = check.delta > margin and p < cfg.forgetting.alpha


def _files(state: dict[str, Any], max_files: int) -> list[tuple[str, str]]:
    files = [(h, str(e.get("name") or h[:12])) for h, e in state.get("files", {}).items()]
    cur = state.get("current_file")
    earlier = [f for f in files if f[0] != cur][-max_files:]
    return earlier + [f for f in files if f[0] == cur]


def measure(
    ws: Workspace,
    cfg: Config,
    *,
    version: str,
    state: dict[str, Any],
    engine: Engine,
    paths: dict[str, Path] | None = None,
    interrupt: Interrupt | None = None,
) -> list[FileCheck]:
    """Score the lineage's files (and the probe) under the engine's active adapter as column
    ``version`` of the matrix; stored, then compared with each file's reference."""
    lid = int(state["lineage_id"])
    fc = cfg.forgetting
    jobs: list[tuple[str, str, str, list[dict[str, Any]]]] = []
    for h, name in _files(state, fc.max_files):
        path = find_file(ws, h, name, [paths[h]] if paths and h in paths else ())
        if path is None:
            log.warning("forgetting: %s (%s) not found; not scored", name, h[:12])
            continue
        got_hash, rows = heldout_sample(ws, cfg, path, engine.tokenizer)
        if rows and got_hash == h:
            jobs.append((h, name, "file", rows))
    if fc.probe_rows:
        jobs.append((PROBE_HASH, PROBE_NAME, "probe", probe_rows(fc.probe_rows)))
    checks: list[FileCheck] = []
    conn = connect(ws.db)
    try:
        for h, name, kind, rows in jobs:
            items = items_from_rows(rows, source=name)
            if kind == "probe" and store.get(conn, lid, store.BASE, h) is None:
                base = _base_scores(ws, cfg, state, engine, name, items, interrupt)
                _put(conn, lid, store.BASE, h, name, kind, base, {})
            losses, gen = score(engine, cfg, name, items, interrupt=interrupt)
            mean = sum(losses.values()) / max(len(losses), 1)
            check = FileCheck(h, name, kind, len(losses), mean, gen)
            ref = store.reference(conn, lid, h, not_version=version)
            if ref is not None:
                compare(check, losses, ref, cfg)
            _put(conn, lid, version, h, name, kind, losses, check.to_dict())
            checks.append(check)
    finally:
        conn.close()
    return checks


def _base_scores(
    ws: Workspace,
    cfg: Config,
    state: dict[str, Any],
    engine: Engine,
    name: str,
    items: list[Item],
    interrupt: Interrupt | None,
) -> dict[str, float]:
    """Per-row loss of the lineage's untrained base: the engine's base under its adapter, or,
    for a full fine-tune (no adapter to turn off), the base model loaded once for this."""
    if state.get("method") != "full":
        return score(engine, cfg, name, items, adapter=BASE_ADAPTER, interrupt=interrupt)[0]
    from mentor.evals.runner import eval_engine

    saved = Path(str(state.get("base") or ""))
    path = saved if state.get("base") and saved.is_dir() else cfg.model_path(ws.home)
    base = eval_engine(path, None, cfg)  # freed when this returns
    return score(base, cfg, name, items, interrupt=interrupt)[0]


def _put(
    conn: Any,
    lid: int,
    version: str,
    h: str,
    name: str,
    kind: str,
    losses: dict[str, float],
    metrics: dict[str, Any],
) -> None:
    mean = sum(losses.values()) / len(losses) if losses else None
    row = store.ForgetRow(
        lid, version, h, name, kind, time.time(), len(losses), mean, losses, metrics
    )
    with transaction(conn):
        store.put(conn, row)


def describe(c: FileCheck, margin: float) -> str:
    lo, hi = c.ci or (math.nan, math.nan)
    return (
        f"{c.name}: held-out loss {c.ref_loss:.3f} ({c.ref_version}) -> {c.loss:.3f} "
        f"({c.delta:+.3f} nats/token [{lo:+.3f}, {hi:+.3f}], margin {margin:g}, "
        f"p={c.p_value:.3g}, n={c.n})"
    )


def gate(checks: list[FileCheck], cfg: Config, decision: GateDecision) -> GateDecision:
    """The promotion decision with forgetting taken into account: refused when any earlier
    file (or the probe) lost significantly more than the margin."""
    forgot = [c for c in checks if c.significant]
    if not forgot or not cfg.forgetting.gate:
        return decision
    why = "forgot " + "; ".join(describe(c, cfg.forgetting.margin) for c in forgot)
    reason = why if decision.promote else f"{decision.reason}; {why}"
    return GateDecision(
        False, reason, decision.p_value, decision.delta, decision.metric, decision.n
    )


def after_version(
    ws: Workspace,
    cfg: Config,
    *,
    version: str,
    weights: Path | None,
    engine: Engine,
    decision: GateDecision,
    job_id: int | None = None,
    interrupt: Interrupt | None = None,
) -> GateDecision:
    """The daemon's hook (``evals.auto.after_training``): measure the version's column of the
    matrix and return the gate's decision with forgetting taken into account. ``weights``: the
    version's adapter, or its whole model for a full fine-tune."""
    state = lineage_state(weights)
    if not cfg.forgetting.enabled or state is None or "lineage_id" not in state:
        return decision
    t0 = time.perf_counter()
    checks = measure(ws, cfg, version=version, state=state, engine=engine, interrupt=interrupt)
    out = gate(checks, cfg, decision)
    conn = connect(ws.db)
    try:
        emit(
            conn,
            "forgetting.measured",
            f"{version}: {len(checks)} files scored"
            + ("" if out.promote or decision.promote is False else f"; {out.reason}"),
            level="info" if out.promote or not decision.promote else "warning",
            job_id=job_id,
            version=version,
            seconds=round(time.perf_counter() - t0, 2),
            checks=[c.to_dict() for c in checks],
        )
    finally:
        conn.close()
    return out
