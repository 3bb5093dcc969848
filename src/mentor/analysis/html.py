"""Self-contained HTML pages (plotly.js inlined once per page, no network needed to open them):
the learning curve, a model comparison, the daily report."""

from __future__ import annotations

import math
from typing import Any

from mentor.analysis.daily_md import duration, fmt, money, signed

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
.verdicts{list-style:none;padding:0}.verdicts li{margin:.2rem 0}.meta{color:#555}
"""

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{{ title }}</title><style>{{ css }}</style></head>
<body><h1>{{ title }}</h1>{{ body | safe }}</body></html>
"""


def _env() -> Any:
    from jinja2 import Environment

    env = Environment(autoescape=True)
    env.globals.update(fmt=fmt, signed=signed, duration=duration, money=money)
    return env


def page(title: str, body: str) -> str:
    return str(_env().from_string(PAGE).render(title=title, css=CSS, body=body))


def render(template: str, **kw: Any) -> str:
    return str(_env().from_string(template).render(**kw))


class Figures:
    """Figures of one page: the first carries plotly.js, the others reuse it."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.first = True

    def html(self, fig: Any) -> str:
        if not self.enabled:
            return ""
        out = str(fig.to_html(full_html=False, include_plotlyjs=self.first))
        self.first = False
        return out


# -- the learning curve --------------------------------------------------------------------------
def curve_figure(data: dict[str, Any]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    s = data["series"]
    pv = data["previews"]
    evals = bool(data["evals"] or pv["steps"])
    rows = ["loss", "learning rate", "tokens/s"] + (["eval metrics"] if evals else [])
    fig = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, subplot_titles=rows)
    loss = s["loss"]
    fig.add_trace(go.Scatter(x=loss["steps"], y=loss["values"], name="loss", opacity=0.35), 1, 1)
    fig.add_trace(go.Scatter(x=loss["steps"], y=loss["smooth"], name="loss (smoothed)"), 1, 1)
    val = s["val_loss"]
    if val["steps"]:
        fig.add_trace(
            go.Scatter(
                x=val["steps"], y=val["values"], name="validation loss", mode="lines+markers"
            ),
            1,
            1,
        )
    fig.add_trace(go.Scatter(x=s["lr"]["steps"], y=s["lr"]["values"], name="lr"), 2, 1)
    tps = s["tokens_per_s"]
    fig.add_trace(go.Scatter(x=tps["steps"], y=tps["values"], name="tokens/s"), 3, 1)
    if pv["steps"]:
        fig.add_trace(
            go.Scatter(
                x=pv["steps"], y=pv["values"], name=f"live preview {pv['metric'] or ''}".strip()
            ),
            4,
            1,
        )
    if data["evals"]:
        e = data["evals"]
        fig.add_trace(
            go.Scatter(
                x=[p["step"] for p in e],
                y=[p["value"] for p in e],
                text=[p["version"] for p in e],
                mode="lines+markers+text",
                textposition="top center",
                name=data["metric"],
            ),
            4,
            1,
        )
    for b in data["boundaries"][1:]:
        fig.add_vline(x=b["step"], line_dash="dash", line_color="#888")
        fig.add_annotation(
            x=b["step"], y=1.02, yref="paper", text=b["file"], showarrow=False, font={"size": 10}
        )
    best = data["analysis"].get("best_step")
    if best is not None:
        fig.add_vline(x=best, line_dash="dot", line_color="green", row=1, col=1)
    fig.update_layout(height=260 * len(rows), margin={"t": 60, "b": 40})
    return fig


CURVE = """
<p class="meta">runs: {% for r in d.runs %}{{ r.id }} ({{ r.file }}, steps {{ r.step_start }}-{{ r.step_end }}){% if not loop.last %}; {% endif %}{% endfor %}</p>
<ul class="verdicts">{% for line in d.analysis.lines %}<li>{{ line }}</li>{% endfor %}</ul>
{{ fig | safe }}
"""


def curve_page(data: dict[str, Any]) -> str:
    body = render(CURVE, d=data, fig=Figures().html(curve_figure(data)))
    return page("mentor learning curve", body)


# -- a comparison --------------------------------------------------------------------------------
COMPARE = """
<p class="meta">A = <b>{{ r.a.ref }}</b> ({{ r.a.hash }}) &middot; B = <b>{{ r.b.ref }}</b> ({{ r.b.hash }}) &middot; alpha {{ r.alpha }}, power {{ r.power }}</p>
<ul class="verdicts">{% for line in r.verdict %}<li>{{ line }}</li>{% endfor %}</ul>
{% for t in r.tasks %}<h2>{{ t.name }} (n={{ t.n }})</h2>
<p class="meta">tokens/s A {{ fmt(t.tokens_per_s.a, 1) }}, B {{ fmt(t.tokens_per_s.b, 1) }} &middot; reused A {{ t.reused.a }}, B {{ t.reused.b }} &middot; generated A {{ t.evaluated.a }}, B {{ t.evaluated.b }}</p>
<table><tr><th>tier</th><th>metric</th><th>n</th><th>A</th><th>B</th><th>B - A</th><th>95% CI</th><th>p</th><th>test</th><th>MDE</th><th>winner</th></tr>
{% for tier, ms in [("overall", t.metrics)] + t.tiers | dictsort %}{% for m, d in ms | dictsort %}
<tr><td>{{ tier }}</td><td>{{ m }}</td><td>{{ d.n }}</td><td>{{ fmt(d.a) }}</td><td>{{ fmt(d.b) }}</td><td>{{ signed(d.delta) }}</td>
<td>[{{ fmt(d.ci[0]) }}, {{ fmt(d.ci[1]) }}]</td><td>{{ '%.3g' % d.p_value }}</td><td>{{ d.test }}</td><td>{{ fmt(d.mde) }}</td><td>{{ d.winner }}</td></tr>
{% endfor %}{% endfor %}</table>{% endfor %}
{{ fig | safe }}
"""


def compare_figure(result: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    xs, a, b = [], [], []
    for t in result["tasks"]:
        m = t["headline"]
        for tier, ms in sorted(t["tiers"].items()):
            if m in ms:
                xs.append(f"{t['name']}/{tier}")
                a.append(ms[m]["a"])
                b.append(ms[m]["b"])
    fig = go.Figure(
        [
            go.Bar(name=f"A {result['a']['ref']}", x=xs, y=a),
            go.Bar(name=f"B {result['b']['ref']}", x=xs, y=b),
        ]
    )
    fig.update_layout(barmode="group", height=380, title="headline metric per tier")
    return fig


def compare_page(result: dict[str, Any], *, charts: bool = True) -> str:
    body = render(
        COMPARE, r=result, fig=Figures(charts).html(compare_figure(result)) if charts else ""
    )
    return page(f"mentor compare {result['a']['ref']} vs {result['b']['ref']}", body)


# -- the daily report ----------------------------------------------------------------------------
DAILY = """
<h2>Training</h2>
<ul><li>files trained: {{ t.files | length }} ({{ t.files | join(', ') or 'none' }})</li>
<li>rows {{ t.rows }}, steps {{ t.steps }}, final loss {{ fmt(t.final_loss) }}</li>
<li>training time {{ duration(t.seconds) }}, average GPU utilisation {{ fmt(t.gpu_util, 0) }}%</li></ul>
{% if t.runs %}<table><tr><th>run</th><th>file</th><th>status</th><th>rows</th><th>steps</th><th>final loss</th><th>val loss</th><th>time</th><th>tokens/s</th></tr>
{% for r in t.runs %}<tr><td>{{ r.run }}</td><td>{{ r.file }}</td><td>{{ r.status }}</td><td>{{ r.rows }}</td><td>{{ r.steps }}</td><td>{{ fmt(r.final_loss) }}</td><td>{{ fmt(r.val_loss) }}</td><td>{{ duration(r.seconds) }}</td><td>{{ fmt(r.tokens_per_s, 1) }}</td></tr>{% endfor %}</table>{% endif %}
<h2>Evaluation</h2>
<ul><li>best today: {% if d.best_today %}{{ d.best_today.version }} {{ d.metric }}={{ fmt(d.best_today.value) }} at step {{ d.best_today.step }}{% else %}none{% endif %}</li>
<li>best so far: {% if d.best_overall %}{{ d.best_overall.version }} {{ d.metric }}={{ fmt(d.best_overall.value) }} at step {{ d.best_overall.step }}{% else %}none{% endif %}</li></ul>
{% set now = d.tiers.now %}{% if now.tiers %}<table><tr><th>tier</th><th>n</th><th>{{ now.metric }}</th><th>change</th><th>gain over untrained</th></tr>
{% for tier, v in now.tiers.items() %}<tr><td>{{ tier }}</td><td>{{ now.n[tier] }}</td><td>{{ fmt(v) }}</td><td>{{ signed(d.tiers.change.get(tier)) }}</td><td>{{ signed(now.gain.get(tier)) }}</td></tr>{% endfor %}</table>{% endif %}
<h2>Cost and return</h2>
<ul><li>cost {{ money(c.total_cost, c.currency) }}: training {{ money(c.train_cost, c.currency) }} ({{ '%.2f' % c.gpu_hours }} GPU-hours), evaluation {{ money(c.eval_cost, c.currency) }} ({{ '%.2f' % c.eval_hours }} h); energy {% if c.energy_kwh is not none %}{{ '%.3f' % c.energy_kwh }} kWh{% else %}unknown{% endif %}</li>
{% for r in d.roi %}<li>ROI {{ r.version }} ({{ r.files | join(', ') }}): {{ r.metric }} {{ signed(r.gain) }} vs {{ r.reference }}; per 1,000 rows {{ fmt(r.gain_per_1k_rows) }}, per {{ c.currency }} {{ fmt(r.gain_per_cost) }}</li>{% endfor %}
{% if d.production %}{% set p = d.production %}<li>production: {{ p.requests }} requests ({{ p.errors }} errors), latency p50 {{ fmt(p.latency_p50_s) }} s / p95 {{ fmt(p.latency_p95_s) }} s, {{ fmt(p.tokens_per_s_avg, 1) }} tokens/s on average</li>{% else %}<li>production: no API server metrics yet</li>{% endif %}</ul>
{{ figs | safe }}
<h2>Verdicts</h2><ul class="verdicts">{% for line in (d.curves.lineage or {}).get('lines', []) %}<li>{{ line }}</li>{% else %}<li>no training to judge</li>{% endfor %}</ul>
{% if d.refused or d.failed_files %}<h2>Problems</h2><ul>{% for r in d.refused %}<li>❌ {{ r.version }} refused: {{ r.message }}</li>{% endfor %}{% for m in d.failed_files %}<li>❌ {{ m }}</li>{% endfor %}</ul>{% endif %}
<h2>Recommendations</h2><ul class="verdicts">{% for r in d.recommendations %}<li>💡 {{ r }}</li>{% else %}<li>nothing to change</li>{% endfor %}</ul>
"""


def daily_figures(data: dict[str, Any], figs: Figures) -> str:
    import plotly.graph_objects as go

    parts = []
    imp = data["improvement"]
    if imp:
        fig = go.Figure(
            go.Scatter(
                x=[p["version"] for p in imp], y=[p["value"] for p in imp], mode="lines+markers"
            )
        )
        fig.update_layout(title=f"{data['metric']} over versions", height=320)
        parts.append(figs.html(fig))
    now, before = data["tiers"]["now"], data["tiers"]["before"]
    if now["tiers"]:
        tiers = list(now["tiers"])
        fig = go.Figure(
            [
                go.Bar(name="previous day", x=tiers, y=[before["tiers"].get(t) for t in tiers]),
                go.Bar(name=data["date"], x=tiers, y=[now["tiers"][t] for t in tiers]),
            ]
        )
        fig.update_layout(barmode="group", title="accuracy per tier", height=320)
        parts.append(figs.html(fig))
    runs = [r for r in data["cost"]["runs"] if not math.isnan(r["cost"])]
    if runs and any(r["cost"] for r in runs):
        fig = go.Figure(go.Bar(x=[r["run_id"] for r in runs], y=[r["cost"] for r in runs]))
        fig.update_layout(title=f"cost per run ({data['cost']['currency']})", height=300)
        parts.append(figs.html(fig))
    return "\n".join(parts)


def daily_page(data: dict[str, Any], *, charts: bool = True) -> str:
    figs = daily_figures(data, Figures()) if charts else ""
    body = render(DAILY, d=data, t=data["training"], c=data["cost"], figs=figs)
    return page(f"mentor daily report {data['date']}", body)
