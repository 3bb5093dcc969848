"""The daily report as Markdown (the file, the mail's text part) and as a short summary (the
webhook message)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mentor.evals.report import fmt


def signed(v: float | None) -> str:
    return "-" if v is None else f"{v:+.3f}"


def duration(seconds: float) -> str:
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s"


def money(v: float | None, currency: str) -> str:
    return "-" if v is None else f"{v:.2f} {currency}"


def _training(d: dict[str, Any]) -> list[str]:
    t = d["training"]
    util = f"{t['gpu_util']:.0f}%" if t["gpu_util"] is not None else "- (no GPU figures)"
    lines = [
        "## Training",
        "",
        f"- files trained: {len(t['files'])} ({', '.join(t['files']) or 'none'})",
        f"- rows: {t['rows']}, steps: {t['steps']}, final loss: {fmt(t['final_loss'])}",
        f"- training time: {duration(t['seconds'])}, average GPU utilisation: {util}",
    ]
    if t["runs"]:
        lines += [
            "",
            "| run | file | status | rows | steps | final loss | val loss | time | tokens/s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in t["runs"]:
            lines.append(
                f"| {r['run']} | {r['file']} | {r['status']} | {r['rows']} | {r['steps']} | "
                f"{fmt(r['final_loss'])} | {fmt(r['val_loss'])} | {duration(r['seconds'])} | "
                f"{fmt(r['tokens_per_s'], 1)} |"
            )
    return lines


def _evals(d: dict[str, Any]) -> list[str]:
    m = d["metric"]
    lines = ["", "## Evaluation", ""]
    for label, key in (("best today", "best_today"), ("best so far", "best_overall")):
        b = d[key]
        lines.append(
            f"- {label}: "
            + (f"{b['version']} {m}={fmt(b['value'])} at step {b['step']}" if b else "none")
        )
    now, change = d["tiers"]["now"], d["tiers"]["change"]
    if now["tiers"]:
        lines += [
            "",
            f"Accuracy per tier ({now['metric']}, {now['version']}; change since the previous day):",
            "",
            "| tier | n | accuracy | change | gain over untrained |",
            "|---|---|---|---|---|",
        ]
        for tier, v in now["tiers"].items():
            lines.append(
                f"| {tier} | {now['n'].get(tier, 0)} | {fmt(v)} | "
                f"{signed(change.get(tier))} | {signed(now['gain'].get(tier))} |"
            )
    return lines


def _business(d: dict[str, Any]) -> list[str]:
    c = d["cost"]
    cur = c["currency"]
    kwh = f"{c['energy_kwh']:.3f} kWh" if c["energy_kwh"] is not None else "unknown"
    lines = [
        "",
        "## Cost and return",
        "",
        f"- cost: {money(c['total_cost'], cur)} (training {money(c['train_cost'], cur)}, "
        f"{c['gpu_hours']:.2f} GPU-hours; evaluation {money(c['eval_cost'], cur)}, "
        f"{c['eval_hours']:.2f} h); energy {kwh}",
    ]
    for r in d["roi"]:
        gain = "-" if r["gain"] is None else f"{r['gain']:+.3f}"
        lines.append(
            f"- ROI {r['version']} ({', '.join(r['files'])}): {r['metric']} "
            f"{gain} vs {r['reference']}; "
            f"per 1,000 rows {fmt(r['gain_per_1k_rows'])}, per {cur} {fmt(r['gain_per_cost'])}"
        )
    if d["improvement"]:
        series = " → ".join(f"{p['version']} {p['value']:.3f}" for p in d["improvement"][-8:])
        lines.append(f"- {d['metric']} over versions: {series}")
    p = d["production"]
    if p:
        lines.append(
            f"- production: {p['requests']} requests ({p['errors']} errors), latency p50 "
            f"{fmt(p['latency_p50_s'])} s / p95 {fmt(p['latency_p95_s'])} s, "
            f"{fmt(p['tokens_per_s_avg'], 1)} tokens/s on average since the server started"
        )
    else:
        lines.append("- production: no API server metrics yet")
    return lines


def markdown(d: dict[str, Any]) -> str:
    lines = [f"# mentor daily report {d['date']}", ""]
    lines += _training(d) + _evals(d) + _business(d)
    lines += ["", "## Verdicts", ""]
    lineage = d["curves"]["lineage"]
    lines += [f"- {x}" for x in (lineage or {}).get("lines", [])] or ["- no training to judge"]
    if d["refused"] or d["failed_files"]:
        lines += ["", "## Problems", ""]
        lines += [f"- ❌ {r['version']} refused: {r['message']}" for r in d["refused"]]
        lines += [f"- ❌ {m}" for m in d["failed_files"]]
    lines += ["", "## Recommendations", ""]
    lines += [f"- 💡 {r}" for r in d["recommendations"]] or ["- nothing to change"]
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines += ["", f"_written {stamp}_"]
    return "\n".join(lines) + "\n"


def summary_text(d: dict[str, Any]) -> str:
    """A few lines for chat (the webhook's ``text``)."""
    t, c = d["training"], d["cost"]
    best = d["best_overall"]
    lines = [
        f"*mentor daily report {d['date']}*",
        f"trained {len(t['files'])} file(s), {t['rows']} rows, {t['steps']} steps in "
        f"{duration(t['seconds'])}; final loss {fmt(t['final_loss'])}",
        f"best {d['metric']}: "
        + (f"{best['version']} {fmt(best['value'])}" if best else "none yet")
        + f"; cost {money(c['total_cost'], c['currency'])}",
    ]
    lines += [f"💡 {r}" for r in d["recommendations"]]
    return "\n".join(lines)
