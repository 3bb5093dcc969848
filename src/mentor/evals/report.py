"""The test report of one evaluation: Markdown, self-contained HTML and JSON.

Written to ``reports/evals/<run_id>/`` (report.md, report.html, report.json): the model and
version, benchmark versions, metrics per tier against the untrained baseline with deltas and the
paired test, and the worst failures with golden vs output. The HTML inlines its CSS and plotly.js
(no network needed to open it).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from mentor.evals.results import LOWER_IS_BETTER, BenchResult, EvalResult
from mentor.paths import Workspace, atomic_write_text

HEADLINES = ("solved", "word_acc", "json_valid", "exact", "f1", "loss", "perplexity", "truncated")
FAILURES = 5
CLIP = 1500


def fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _delta(b: BenchResult, tier: str | None, metric: str) -> str:
    tests = b.tests if tier is None else b.tier_tests.get(tier, {})
    t = tests.get(metric)
    if t is None or t.n == 0:
        return "-"
    return f"{t.delta:+.3f} (p={t.p_value:.3g}, {t.test}, n={t.n})"


def failures(result: EvalResult, k: int = FAILURES) -> list[dict[str, Any]]:
    """The worst items: lowest headline score first, then lowest partial credit."""
    out = []
    for b in result.benchmarks.values():
        for iid, it in b.items.items():
            s = it.scores
            key = (
                s.get("solved", s.get("exact", 1.0)),
                s.get("word_acc", s.get("f1", 1.0)),
                -s.get("loss", 0.0),
            )
            out.append((key, b.name, iid, it))
    out.sort(key=lambda x: x[0])
    return [
        {
            "benchmark": name,
            "item_id": iid,
            "tier": it.tier,
            "scores": {m: v for m, v in it.scores.items() if not m.startswith("_")},
            "golden": result.benchmarks[name].goldens.get(iid, "")[:CLIP],
            "output": it.output[:CLIP],
        }
        for key, name, iid, it in out[:k]
        if key[0] < 1.0 or key[1] < 1.0
    ]


def _metrics_of(b: BenchResult) -> list[str]:
    present = {m for t in b.tiers.values() for m in t} | set(b.overall)
    return [m for m in HEADLINES if m in present]


def markdown(result: EvalResult) -> str:
    lines = [
        f"# Evaluation {result.run_id}",
        "",
        f"- model: `{result.model_ref}`"
        + (f" (version {result.version})" if result.version else ""),
        f"- model path: `{result.model_path}`"
        + (f", adapter `{result.adapter_path}`" if result.adapter_path else ""),
        f"- model hash: `{result.model_hash[:16]}`",
        "",
        "## Overall",
        "",
        "| metric | value | 95% CI | vs baseline |",
        "|---|---|---|---|",
    ]
    for m, v in result.overall.items():
        ci = result.intervals.get(m)
        t = result.baseline_tests.get(m)
        d = f"{t.delta:+.3f} (p={t.p_value:.3g}, {t.test})" if t and t.n else "-"
        lines.append(f"| {m} | {fmt(v)} | {f'[{ci[0]:.3f}, {ci[1]:.3f}]' if ci else '-'} | {d} |")
    for b in result.benchmarks.values():
        ms = _metrics_of(b)
        lines += [
            "",
            f"## {b.name} (version {b.version}, n={b.n}, eval {b.eval_id}, baseline eval {b.baseline_eval_id or '-'})",
            "",
            f"{b.tokens_per_s:.1f} new tokens/s, max_new_tokens {b.max_new_tokens}",
            "",
            "| tier | " + " | ".join(ms) + " |",
            "|---|" + "---|" * len(ms),
        ]
        for tier, vals in [*b.tiers.items(), ("overall", b.overall)]:
            lines.append(f"| {tier} | " + " | ".join(fmt(vals.get(m)) for m in ms) + " |")
        if b.tests:
            lines += [
                "",
                "Against the untrained baseline (paired by item):",
                "",
                "| tier | " + " | ".join(ms) + " |",
                "|---|" + "---|" * len(ms),
            ]
            for tier in b.tiers:
                lines.append(f"| {tier} | " + " | ".join(_delta(b, tier, m) for m in ms) + " |")
            lines.append("| overall | " + " | ".join(_delta(b, None, m) for m in ms) + " |")
    fails = failures(result)
    if fails:
        lines += ["", "## Worst failures", ""]
        for f in fails:
            scores = ", ".join(f"{k}={fmt(v, 2)}" for k, v in f["scores"].items())
            lines += [
                f"### {f['benchmark']} / {f['item_id']} ({f['tier']})",
                "",
                scores,
                "",
                "golden:",
                "```",
                f["golden"],
                "```",
                "output:",
                "```",
                f["output"],
                "```",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
.up{color:#137333}.down{color:#b3261e}pre{background:#f6f8fa;padding:.5rem;white-space:pre-wrap;word-break:break-all;max-height:20rem;overflow:auto}
.meta{color:#555}
"""

TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>mentor evaluation {{ r.run_id }}</title><style>{{ css }}</style></head>
<body>
<h1>Evaluation {{ r.run_id }}</h1>
<p class="meta">model <b>{{ r.model_ref }}</b>{% if r.version %} (version {{ r.version }}){% endif %}
 &middot; {{ r.model_path }}{% if r.adapter_path %} + adapter {{ r.adapter_path }}{% endif %}
 &middot; hash {{ r.model_hash[:16] }}</p>
<h2>Overall</h2>
<table><tr><th>metric</th><th>value</th><th>95% CI</th><th>vs baseline</th></tr>
{% for m, v in r.overall.items() %}<tr><td>{{ m }}</td><td>{{ fmt(v) }}</td>
<td>{% if m in r.intervals %}[{{ fmt(r.intervals[m][0]) }}, {{ fmt(r.intervals[m][1]) }}]{% else %}-{% endif %}</td>
<td>{% set t = r.baseline_tests.get(m) %}{% if t and t.n %}<span class="{{ cls(m, t.delta) }}">{{ '%+.3f' % t.delta }}</span> (p={{ '%.3g' % t.p_value }}, {{ t.test }}){% else %}-{% endif %}</td></tr>
{% endfor %}</table>
{{ chart | safe }}
{% for b in r.benchmarks.values() %}{% set ms = metrics_of(b) %}
<h2>{{ b.name }}</h2>
<p class="meta">version {{ b.version }} &middot; n={{ b.n }} &middot; eval {{ b.eval_id }} &middot; baseline eval {{ b.baseline_eval_id or '-' }} &middot; {{ '%.1f' % b.tokens_per_s }} new tokens/s &middot; max_new_tokens {{ b.max_new_tokens }}</p>
<table><tr><th>tier</th>{% for m in ms %}<th>{{ m }}</th>{% endfor %}</tr>
{% for tier, vals in b.tiers.items() %}<tr><td>{{ tier }}</td>{% for m in ms %}<td>{{ fmt(vals.get(m)) }}</td>{% endfor %}</tr>{% endfor %}
<tr><td><b>overall</b></td>{% for m in ms %}<td><b>{{ fmt(b.overall.get(m)) }}</b></td>{% endfor %}</tr></table>
{% if b.tests %}<p>Against the untrained baseline (paired by item):</p>
<table><tr><th>tier</th>{% for m in ms %}<th>{{ m }}</th>{% endfor %}</tr>
{% for tier in b.tiers %}<tr><td>{{ tier }}</td>{% for m in ms %}<td>{{ delta(b, tier, m) }}</td>{% endfor %}</tr>{% endfor %}
<tr><td><b>overall</b></td>{% for m in ms %}<td>{{ delta(b, None, m) }}</td>{% endfor %}</tr></table>{% endif %}
{% endfor %}
{% if fails %}<h2>Worst failures</h2>
{% for f in fails %}<h3>{{ f.benchmark }} / {{ f.item_id }} ({{ f.tier }})</h3>
<p>{% for k, v in f.scores.items() %}{{ k }}={{ fmt(v, 2) }} {% endfor %}</p>
<p>golden:</p><pre>{{ f.golden }}</pre><p>output:</p><pre>{{ f.output }}</pre>{% endfor %}{% endif %}
</body></html>
"""


def _chart(result: EvalResult) -> str:
    """A bar chart of the headline metric per tier, model vs baseline (plotly.js inlined)."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        return ""
    xs, ys, base = [], [], []
    for b in result.benchmarks.values():
        metric = next((m for m in ("solved", "exact", "loss") if m in b.overall), None)
        if metric is None:
            continue
        for tier, vals in b.tiers.items():
            xs.append(f"{b.name}/{tier} {metric}")
            ys.append(vals.get(metric, 0.0))
            t = b.tier_tests.get(tier, {}).get(metric)
            base.append(t.reference if t and t.n else None)
    if not xs:
        return ""
    fig = go.Figure([go.Bar(name=result.model_ref, x=xs, y=ys)])
    if any(v is not None for v in base):
        fig.add_bar(name="baseline", x=xs, y=base)
    fig.update_layout(barmode="group", height=360, margin={"t": 30, "b": 80})
    return str(fig.to_html(full_html=False, include_plotlyjs=True))


def render_html(result: EvalResult, *, chart: bool = True) -> str:
    from jinja2 import Environment

    env = Environment(autoescape=True)
    tpl = env.from_string(TEMPLATE)

    def cls(metric: str, d: float) -> str:
        good = d < 0 if metric in LOWER_IS_BETTER else d > 0
        return "up" if good and d != 0 else ("down" if d != 0 else "")

    return tpl.render(
        r=result,
        css=CSS,
        fmt=fmt,
        cls=cls,
        delta=lambda b, t, m: html.unescape(_delta(b, t, m)),
        metrics_of=_metrics_of,
        fails=failures(result),
        chart=_chart(result) if chart else "",
    )


def report_json(result: EvalResult) -> dict[str, Any]:
    data = result.to_json()
    data["failures"] = failures(result)
    data["benchmark_versions"] = {b.name: b.version for b in result.benchmarks.values()}
    data["tier_tests"] = {
        b.name: {tier: {m: t.to_dict() for m, t in ts.items()} for tier, ts in b.tier_tests.items()}
        for b in result.benchmarks.values()
    }
    return data


def write_report(ws: Workspace, result: EvalResult, *, chart: bool = True) -> Path:
    """Write report.md, report.html and report.json; returns the folder."""
    d = ws.reports / "evals" / result.run_id
    result.report = d
    atomic_write_text(d / "report.md", markdown(result))
    atomic_write_text(d / "report.html", render_html(result, chart=chart))
    atomic_write_text(
        d / "report.json",
        json.dumps(report_json(result), indent=2, ensure_ascii=False, default=str) + "\n",
    )
    return d
