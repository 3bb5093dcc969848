"""Alerts: pure rules over recent ``metrics.jsonl`` records and a system sample.

:func:`check` returns a list of :class:`Alert` (kind, level, message) and touches nothing;
:func:`record` stores new ones as ``alert`` events with de-duplication (the same alert kind and
level is not recorded again within ``dedup_s`` seconds); :func:`active` reads the alerts recorded
recently, for the status snapshot's ``active_alerts`` and the dashboard.

Rules (thresholds in :class:`Rules`, disk from ``daemon.min_free_gib``):

- ``loss_nan``: the last loss (or grad norm) is NaN or infinite -> critical.
- ``loss_spike``: the last loss exceeds ``spike_ratio`` x the median of the window before it.
- ``throughput_drop``: median tokens/s of the last records fell below ``(1 - drop_share)`` x
  the median of the records before them.
- ``val_gap``: validation loss exceeds the recent training loss by ``gap_abs`` and ``gap_rel``.
- ``low_disk``: free disk below ``daemon.min_free_gib`` (critical) or twice it (warning).
- ``gpu_temperature``: a GPU at or above ``gpu_warn_c`` (warning) / ``gpu_crit_c`` (critical).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mentor.store import events

LEVELS = ("info", "warning", "critical")


@dataclass(frozen=True)
class Alert:
    kind: str
    level: str  # warning | critical
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Rules:
    window: int = 10  # records compared on each side
    spike_ratio: float = 2.0
    drop_share: float = 0.4
    gap_abs: float = 0.3
    gap_rel: float = 0.25
    min_free_gib: float = 5.0
    gpu_warn_c: float = 85.0
    gpu_crit_c: float = 90.0

    @classmethod
    def from_config(cls, cfg: Any) -> Rules:
        """eval.alerts thresholds; low disk uses the daemon's disk guard (daemon.min_free_gib)."""
        a = cfg.eval.alerts
        return cls(
            window=a.window,
            spike_ratio=a.loss_spike_ratio,
            drop_share=a.throughput_drop_share,
            gap_abs=a.val_gap_abs,
            gap_rel=a.val_gap_rel,
            min_free_gib=float(cfg.daemon.min_free_gib),
            gpu_warn_c=a.gpu_warn_c,
            gpu_crit_c=a.gpu_crit_c,
        )


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x)


def _series(records: Sequence[dict[str, Any]], key: str) -> list[float]:
    out = []
    for r in records:
        v = _num(r.get(key))
        if v is not None:
            out.append(v)
    return out


def check(
    records: Sequence[dict[str, Any]],
    system: dict[str, Any] | None = None,
    rules: Rules | None = None,
) -> list[Alert]:
    """Every alert the recent records (oldest first) and the system sample raise now."""
    r = rules or Rules()
    alerts: list[Alert] = []
    train = [x for x in records if _num(x.get("loss")) is not None]
    if train:
        last = train[-1]
        loss = float(last["loss"])
        gn = _num(last.get("grad_norm"))
        step = last.get("step", "?")
        if not math.isfinite(loss) or (gn is not None and not math.isfinite(gn)):
            what = "loss" if not math.isfinite(loss) else "grad norm"
            alerts.append(Alert("loss_nan", "critical", f"step {step}: {what} is not finite"))
        else:
            before = [
                float(x["loss"]) for x in train[-1 - r.window : -1] if math.isfinite(x["loss"])
            ]
            if len(before) >= 3:
                med = statistics.median(before)
                if med > 0 and loss > r.spike_ratio * med:
                    alerts.append(
                        Alert(
                            "loss_spike",
                            "warning",
                            f"step {step}: loss {loss:.3g} is {loss / med:.1f}x the recent median {med:.3g}",
                        )
                    )
    tps = _series(records, "tokens_per_s")
    if len(tps) >= 2 * min(r.window, 3):
        k = min(r.window, len(tps) // 2)
        recent, before = tps[-k:], tps[-2 * k : -k]
        now, then = statistics.median(recent), statistics.median(before)
        if then > 0 and now < (1 - r.drop_share) * then:
            alerts.append(
                Alert(
                    "throughput_drop",
                    "warning",
                    f"throughput fell to {now:,.0f} tokens/s from {then:,.0f} ({1 - now / then:.0%} lower)",
                )
            )
    vals = [x for x in records if _num(x.get("val_loss")) is not None]
    if vals and train:
        v = float(vals[-1]["val_loss"])
        recent_train = [float(x["loss"]) for x in train[-r.window :] if math.isfinite(x["loss"])]
        if recent_train and math.isfinite(v):
            t = statistics.mean(recent_train)
            gap = v - t
            if gap > r.gap_abs and (t <= 0 or gap / t > r.gap_rel):
                alerts.append(
                    Alert(
                        "val_gap",
                        "warning",
                        f"validation loss {v:.3g} is {gap:.3g} above training loss {t:.3g} (overfitting?)",
                    )
                )
    sysd = system or {}
    free = _num(sysd.get("disk_free_gib"))
    if free is not None:
        if free < r.min_free_gib:
            alerts.append(
                Alert(
                    "low_disk",
                    "critical",
                    f"{free:.1f} GiB free on the workspace disk (minimum {r.min_free_gib:g})",
                )
            )
        elif free < 2 * r.min_free_gib:
            alerts.append(
                Alert("low_disk", "warning", f"{free:.1f} GiB free on the workspace disk")
            )
    for g in sysd.get("gpus") or []:
        temp = _num(g.get("temperature_c"))
        if temp is None:
            continue
        if temp >= r.gpu_crit_c:
            level = "critical"
        elif temp >= r.gpu_warn_c:
            level = "warning"
        else:
            continue
        alerts.append(Alert("gpu_temperature", level, f"GPU {g.get('index', 0)} at {temp:.0f} °C"))
    return alerts


def record(
    conn: sqlite3.Connection,
    alerts: Sequence[Alert],
    *,
    dedup_s: float = 600.0,
    job_id: int | None = None,
    now: float | None = None,
) -> list[Alert]:
    """Store alerts as ``alert`` events, skipping any already recorded within ``dedup_s``."""
    now = time.time() if now is None else now
    if not alerts:
        return []
    seen = {
        (e.data.get("alert"), e.level)
        for e in events.recent(conn, kinds=["alert"], since=now - dedup_s, limit=500)
    }
    new = []
    for a in alerts:
        if (a.kind, a.level) in seen:
            continue
        seen.add((a.kind, a.level))
        events.emit(conn, "alert", a.message, level=a.level, job_id=job_id, ts=now, alert=a.kind)
        new.append(a)
    return new


def active(
    conn: sqlite3.Connection, *, within_s: float = 600.0, now: float | None = None
) -> list[dict[str, Any]]:
    """Alerts recorded in the last ``within_s`` seconds, newest first, one per kind."""
    now = time.time() if now is None else now
    out: list[dict[str, Any]] = []
    kinds: set[str] = set()
    for e in events.recent(conn, kinds=["alert"], since=now - within_s, limit=200):
        kind = str(e.data.get("alert", "alert"))
        if kind in kinds:
            continue
        kinds.add(kind)
        out.append({"kind": kind, "level": e.level, "message": e.message, "ts": e.ts})
    return out


def tail_jsonl(path: Path, n: int = 50, *, max_bytes: int = 1 << 20) -> list[dict[str, Any]]:
    """The last ``n`` JSON objects of a JSONL file (a missing file or a torn last line is skipped)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]  # the first line may be cut
    return parse_records(lines[-n:] if n > 0 else lines)


def parse_records(lines: list[str]) -> list[dict[str, Any]]:
    """The JSON objects among ``lines``; blank, torn or non-object lines are skipped."""
    out: list[dict[str, Any]] = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out
