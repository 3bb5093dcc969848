"""The learning-curve analyzer: pure functions on series -> findings, verdicts, a recommendation.

Input is what training logs (``metrics.jsonl``): training loss per logged step, validation loss
(same mask as training) every ``eval.val_every`` steps, the learning rate, and optionally eval
metrics per version. Every call is noise-aware:

* the noise of a series is estimated robustly from its second differences
  (1.4826 x MAD / sqrt 6), so a trend must stand out of the series' own jitter;
* "still falling" / "rising" at the end is a least-squares slope over the last
  ``report.curve.tail_share`` of the points, significant at ``report.curve.alpha`` (t-test);
* rises, gaps and plateaus count only beyond ``report.curve.noise_z`` noise deviations.

Nothing here reads files; :mod:`mentor.analysis.curve_data` feeds it from the workspace.
The series helpers (smoothing, noise, trend tests) are in :mod:`mentor.analysis.series`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mentor.analysis.series import (
    ema,
    noise_sd,
    plateau_onset,
    span_of,
    tail,
    trend,
)
from mentor.config import CurveConfig

Level = Literal["ok", "warn", "bad"]
ICONS: dict[str, str] = {"ok": "✅", "warn": "⚠️", "bad": "❌"}
TIP = "💡 Recommendation:"


@dataclass
class Finding:
    level: Level
    kind: str  # decreasing | overfit | underfit | plateau | divergence | nan | lr_* | few_points | early_stop
    message: str
    step: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def line(self) -> str:
        return f"{ICONS[self.level]} {self.message}"


@dataclass
class EvalPoint:
    """An eval metric of a version trained up to ``step``."""

    step: int
    version: str
    metric: str
    value: float


@dataclass
class CurveAnalysis:
    findings: list[Finding]
    recommendation: str | None = None
    stop_step: int | None = None  # where training should have stopped (plateau / overfit)
    best_step: int | None = None  # lowest validation loss
    best_version: str | None = None  # best eval metric among the versions
    noise: dict[str, float | None] = field(default_factory=dict)

    @property
    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def lines(self) -> list[str]:
        out = [f.line for f in self.findings]
        if self.recommendation:
            out.append(f"{TIP} {self.recommendation}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [dict(asdict(f), line=f.line) for f in self.findings],
            "recommendation": self.recommendation,
            "stop_step": self.stop_step,
            "best_step": self.best_step,
            "best_version": self.best_version,
            "noise": self.noise,
            "lines": self.lines(),
        }


# -- the analysis --------------------------------------------------------------------------------
@dataclass
class _Series:
    steps: list[int]
    values: list[float]
    smooth: list[float]
    noise: float  # of a raw point
    noise_smooth: float  # of a smoothed point


def _series(steps: list[int], values: list[float], cfg: CurveConfig, smooth: bool) -> _Series:
    span = span_of(len(values), cfg) if smooth else 1
    sd = noise_sd(values)
    a = 2.0 / (span + 1.0)
    return _Series(steps, values, ema(values, span), sd, sd * math.sqrt(a / (2 - a)))


def analyze(
    steps: list[int],
    loss: list[float],
    cfg: CurveConfig,
    *,
    val_steps: list[int] | None = None,
    val_loss: list[float] | None = None,
    lr_steps: list[int] | None = None,
    lr: list[float] | None = None,
    evals: list[EvalPoint] | None = None,
) -> CurveAnalysis:
    """Findings about one learning curve (a run, or a lineage's runs laid end to end)."""
    out = CurveAnalysis([])
    for s, v in zip(steps, loss, strict=True):
        if not math.isfinite(v):
            out.findings.append(
                Finding("bad", "nan", f"Loss became NaN/Inf at step {s}", s, {"step": s})
            )
            out.recommendation = "lower training.learning_rate and resume from the last version"
            return out
    if len(loss) < max(4, cfg.tail_min_points):
        out.findings.append(
            Finding(
                "warn",
                "few_points",
                f"Only {len(loss)} logged points: too few to judge the curve "
                "(log more often with training.logging_steps)",
                evidence={"points": len(loss)},
            )
        )
        return out
    train = _series(steps, loss, cfg, smooth=True)
    val = None
    if val_steps and val_loss and len(val_loss) >= 2:
        val = _series(val_steps, val_loss, cfg, smooth=False)
    out.noise = {"train": round(train.noise, 6), "val": round(val.noise, 6) if val else None}
    if val is not None:
        i = min(range(len(val.values)), key=lambda k: val.values[k])
        out.best_step = val.steps[i]
    if evals:
        best = max(evals, key=lambda e: (e.value, -e.step))
        out.best_version = best.version

    diverged = _divergence(train, cfg, out)
    overfit = False
    if not diverged:
        _decreasing(train, cfg, out)
        overfit = _overfit(train, val, cfg, out)
        if not overfit:
            _plateau_or_underfit(train, val, cfg, out)
        if val is not None and not overfit:
            low = min(val.values)
            out.findings.append(
                Finding(
                    "ok",
                    "val_ok",
                    f"Validation loss did not rise: best {low:.3f} at step {out.best_step}",
                    out.best_step,
                )
            )
    if lr_steps and lr:
        _lr_checks(lr_steps, lr, cfg, out)
    if evals:
        _eval_trend(evals, out)
    out.recommendation = _recommend(out)
    return out


def _divergence(train: _Series, cfg: CurveConfig, out: CurveAnalysis) -> bool:
    s = train.smooth
    k = span_of(len(s), cfg)
    start = sum(train.values[:k]) / k
    i_min = min(range(len(s)), key=lambda i: s[i])
    low, end = s[i_min], s[-1]
    drop, rise = max(0.0, start - low), end - low
    ts, tv = tail(train.steps, train.values, cfg)
    t = trend(ts, tv)
    beyond_noise = rise > cfg.noise_z * train.noise_smooth
    if beyond_noise and (rise > cfg.divergence_share * drop or end > start) and t.rising(cfg.alpha):
        out.findings.append(
            Finding(
                "bad",
                "divergence",
                f"Training loss diverging: rose from {low:.3f} at step {train.steps[i_min]} to "
                f"{end:.3f} at step {train.steps[-1]} (p={t.p_value:.2g})",
                train.steps[i_min],
                {"low": low, "end": end, "start": start, "p_value": t.p_value},
            )
        )
        out.stop_step = train.steps[i_min]
        return True
    return False


def _decreasing(train: _Series, cfg: CurveConfig, out: CurveAnalysis) -> None:
    t = trend(train.steps, train.values)
    first, last = train.smooth[0], train.smooth[-1]
    ev = {"first": first, "last": last, "slope": t.slope, "p_value": t.p_value}
    if t.falling(cfg.alpha):
        out.findings.append(
            Finding(
                "ok",
                "decreasing",
                f"Training loss decreasing steadily: {first:.3f} → {last:.3f} over steps "
                f"{train.steps[0]}-{train.steps[-1]} (p={t.p_value:.2g})",
                evidence=ev,
            )
        )
    else:
        out.findings.append(
            Finding(
                "warn",
                "not_decreasing",
                f"Training loss not decreasing: {first:.3f} → {last:.3f} (slope p={t.p_value:.2g})",
                evidence=ev,
            )
        )


def _overfit(train: _Series, val: _Series | None, cfg: CurveConfig, out: CurveAnalysis) -> bool:
    """Validation rising after its minimum (persistently, beyond noise) while training falls."""
    if val is None or len(val.values) < 3:
        return False
    i = val.steps.index(out.best_step) if out.best_step is not None else 0
    after = val.values[i + 1 :]
    if len(after) < 2:
        return False
    low, end = val.values[i], val.values[-1]
    margin = cfg.noise_z * val.noise
    if len(after) >= 3:  # a rising trend after the minimum, and a rise beyond the noise
        rising = trend(val.steps[i:], val.values[i:]).rising(cfg.alpha) and end - low > margin
    else:  # two points: both must stand beyond the noise
        rising = min(after) - low > margin
    if not rising:
        return False
    best_step = val.steps[i]
    idx = [k for k, s in enumerate(train.steps) if s >= best_step]
    t = trend([train.steps[k] for k in idx], [train.values[k] for k in idx])
    if not t.falling(cfg.alpha):
        return False
    t_from = train.smooth[idx[0]]
    out.findings.append(
        Finding(
            "bad",
            "overfit",
            f"Possible overfitting detected: validation loss rose from {low:.3f} at step "
            f"{best_step} to {end:.3f} at step {val.steps[-1]} while training loss fell from "
            f"{t_from:.3f} to {train.smooth[-1]:.3f} (p={t.p_value:.2g})",
            best_step,
            {"val_low": low, "val_end": end, "noise": val.noise, "train_p": t.p_value},
        )
    )
    out.stop_step = best_step
    return True


def _plateau_or_underfit(
    train: _Series, val: _Series | None, cfg: CurveConfig, out: CurveAnalysis
) -> None:
    """A long flat end (plateau) or a curve that has not slowed down (underfit), else neither."""
    # the plateau is judged on validation loss when there are enough points, else on training
    name, s = (
        ("Validation", val) if val is not None and len(val.values) >= 4 else ("Training", train)
    )
    series = s.smooth
    improvement = series[0] - min(series)
    noise = s.noise_smooth if s is train else s.noise
    threshold = max(cfg.plateau_share * improvement, cfg.noise_z * noise)
    onset = plateau_onset(s.steps, series, threshold)
    span = s.steps[-1] - s.steps[0]
    if onset is not None and onset > 0 and span > 0:
        share = (s.steps[-1] - s.steps[onset]) / span
        if share >= cfg.plateau_min_share:
            out.findings.append(
                Finding(
                    "warn",
                    "plateau",
                    f"{name} loss plateaued after step {s.steps[onset]} "
                    f"(the last {share:.0%} of the steps improved it by less than {threshold:.3f})",
                    s.steps[onset],
                    {"threshold": threshold, "share": share, "series": name.lower()},
                )
            )
            if out.stop_step is None:
                out.stop_step = s.steps[onset]
            return
    ts, tv = tail(train.steps, train.values, cfg)
    t = trend(ts, tv)
    k = span_of(len(train.values), cfg)
    whole = train.steps[-1] - train.steps[0]
    average = (sum(train.values[-k:]) - sum(train.values[:k])) / k / whole if whole else 0.0
    steep = average < 0 and t.slope <= cfg.underfit_ratio * average
    val_falling = True
    if val is not None:
        vs, vv = tail(val.steps, val.values, cfg)
        val_falling = val.values[-1] == min(val.values) or trend(vs, vv).falling(cfg.alpha)
    if t.falling(cfg.alpha) and steep and val_falling:
        both = "training and validation loss" if val is not None else "training loss"
        out.findings.append(
            Finding(
                "warn",
                "underfit",
                f"Underfitting: {both} still falling at the end, not slowing down "
                f"({t.change:+.3f} over the last {ts[-1] - ts[0]} steps, p={t.p_value:.2g})",
                ts[-1],
                {"change": t.change, "p_value": t.p_value, "slope": t.slope, "average": average},
            )
        )


def _lr_checks(steps: list[int], lr: list[float], cfg: CurveConfig, out: CurveAnalysis) -> None:
    peak = max(lr)
    if peak <= 0:
        return
    decayed = False
    for i in range(1, len(lr)):
        if lr[i] < lr[i - 1] * (1 - 1e-6):
            decayed = True
        elif decayed and lr[i] > lr[i - 1] * (1 + 1e-3):
            out.findings.append(
                Finding(
                    "bad",
                    "lr_restart",
                    f"Learning rate jumped back up at step {steps[i]} ({lr[i - 1]:.2e} → "
                    f"{lr[i]:.2e}): the schedule restarted (a sawtooth)",
                    steps[i],
                    {"before": lr[i - 1], "after": lr[i]},
                )
            )
            break
    end_share = lr[-1] / peak
    kinds = out.kinds
    if "underfit" in kinds and end_share < 0.25:
        out.findings.append(
            Finding(
                "warn",
                "lr_floor",
                f"Learning rate already down to {end_share:.0%} of its peak while the loss still "
                "falls: the schedule's horizon (training.horizon_tokens) is short for this data",
                steps[-1],
                {"end_share": end_share},
            )
        )
    if "plateau" in kinds and end_share > 0.9:
        out.findings.append(
            Finding(
                "warn",
                "lr_flat",
                "Loss plateaued with the learning rate still at its peak: a decaying schedule "
                "(training.schedule cosine or wsd) usually lowers the loss further",
                steps[-1],
                {"end_share": end_share},
            )
        )
    if "divergence" in kinds:
        at = out.stop_step or steps[0]
        near = [v for s, v in zip(steps, lr, strict=True) if s >= at]
        if near and min(near) > 0.9 * peak:
            out.findings.append(
                Finding(
                    "warn",
                    "lr_high",
                    "The loss diverged with the learning rate at its peak: it is too high",
                    at,
                    {"peak": peak},
                )
            )


def _eval_trend(evals: list[EvalPoint], out: CurveAnalysis) -> None:
    pts = sorted(evals, key=lambda e: e.step)
    if len(pts) < 2:
        return
    first, last = pts[0], pts[-1]
    best = max(pts, key=lambda e: (e.value, -e.step))
    level: Level = "ok" if last.value >= first.value else "warn"
    msg = (
        f"{last.metric} {first.value:.3f} ({first.version}) → {last.value:.3f} ({last.version});"
        f" best {best.value:.3f} at {best.version}, step {best.step}"
    )
    out.findings.append(Finding(level, "evals", msg, best.step, {"best": asdict(best)}))


def _recommend(out: CurveAnalysis) -> str | None:
    kinds = out.kinds
    if "divergence" in kinds:
        return (
            f"lower training.learning_rate (or lengthen warmup) and restart from a version "
            f"before step {out.stop_step}"
        )
    if "lr_restart" in kinds:
        return "check the LR schedule: a lineage's schedule must never restart per file"
    if "overfit" in kinds:
        best = f" (best version: {out.best_version})" if out.best_version else ""
        return f"stop at step {out.stop_step} next time{best}; more varied data would help"
    if "plateau" in kinds:
        return f"stop at step {out.stop_step} next time, or add new data: later steps bought little"
    if "underfit" in kinds:
        return "train longer or add more data: the loss is still falling"
    if "not_decreasing" in kinds:
        return "raise training.learning_rate or check the data: the loss is not moving"
    return None
