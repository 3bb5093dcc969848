/* mentor dashboard: the Curve and Compare pages (mentor.analysis, read-only). */
(function () {
  "use strict";
  const D = window.mentorDash;
  const PAGE = document.body.dataset.page;
  const CURVE_POLL_MS = 10000; // the analyzer reads every run of the lineage: not every second
  const COMPARE_POLL_MS = 30000;

  function xy(s) { return s ? { x: s.steps || [], y: s.values || [] } : { x: [], y: [] }; }

  async function curvePage() {
    const d = await D.get("/curve");
    const a = d.analysis || {};
    const lines = a.lines || [];
    D.$("curve-verdicts").replaceChildren(...(lines.length ? lines : ["no training yet"]).map((l) => D.el("li", l)));
    D.setText("curve-note", (d.runs || []).length + " run(s)" + (a.best_step != null ? " · best validation step " + a.best_step : "") + (a.best_version ? " · best version " + a.best_version : ""));
    const s = d.series || {};
    const marks = D.boundaryShapes(d.boundaries);
    const xaxis = { xaxis: { title: { text: "global step" } } };
    const loss = xy(s.loss), val = xy(s.val_loss);
    const traces = [
      { x: loss.x, y: loss.y, name: "loss", mode: "lines", line: { color: "#9db0e8", width: 1 } },
      { x: loss.x, y: (s.loss || {}).smooth || [], name: "loss (smoothed)", mode: "lines", line: { color: "#3056d3" } },
      { x: val.x, y: val.y, name: "validation loss", mode: "lines+markers", line: { color: "#c62828" } },
    ];
    const shapes = marks.shapes.slice();
    if (a.stop_step != null) shapes.push({ type: "line", xref: "x", yref: "paper", x0: a.stop_step, x1: a.stop_step, y0: 0, y1: 1, line: { color: "#b26a00", dash: "dash" } });
    D.chart("chart-curve-loss", traces, Object.assign({}, xaxis, { shapes: shapes, annotations: marks.annotations }));
    const lr = xy(s.lr), tps = xy(s.tokens_per_s);
    D.chart("chart-curve-lr", [{ x: lr.x, y: lr.y, name: "lr", mode: "lines", line: { color: "#1a7f37" } }], Object.assign({}, xaxis, marks));
    D.chart("chart-curve-tps", [{ x: tps.x, y: tps.y, name: "tokens/s", mode: "lines", line: { color: "#b26a00" } }], Object.assign({}, xaxis, marks));
    const ev = d.evals || [], pv = d.previews || { steps: [], values: [] };
    D.chart("chart-curve-evals", [
      { x: ev.map((e) => e.step), y: ev.map((e) => e.value), text: ev.map((e) => e.version), name: (d.metric || "metric") + " by version", mode: "lines+markers+text", textposition: "top center" },
      { x: pv.steps, y: pv.values, name: "live probes solved (share)", mode: "lines", line: { dash: "dot" } },
    ], Object.assign({}, xaxis, marks));
    D.fillTable("curve-runs", (d.runs || []).map((r) => [r.id, r.file, r.step_start + " – " + r.step_end, r.status || "–"]));
    const b = await D.get("/business");
    const c = b.cost || {}, cur = c.currency || "";
    D.fillTable("curve-cost", [
      ["training hours", D.fmt(c.train_hours, 3)], ["GPU hours", D.fmt(c.gpu_hours, 3)],
      ["evaluation hours", D.fmt(c.eval_hours, 3)], ["energy (kWh)", c.energy_kwh == null ? "–" : D.fmt(c.energy_kwh, 3)],
      ["total cost", D.fmt(c.total_cost, 2) + " " + cur],
    ]);
    D.fillTable("curve-roi", (b.roi || []).map((r) => [r.version, (r.files || []).join(", "), r.rows, r.metric + " vs " + r.reference,
      r.gain == null ? "–" : D.fmt(r.gain, 3), r.gain_per_1k_rows == null ? "–" : D.fmt(r.gain_per_1k_rows, 3), r.gain_per_cost == null ? "–" : D.fmt(r.gain_per_cost, 3)]));
  }

  // ---------------------------------------------------------------- compare
  let choices = null, shownKey = "";
  function options(sel, values, keep, fallback) {
    sel.replaceChildren(...values.map((v) => { const o = D.el("option", v); o.value = v; return o; }));
    sel.value = values.includes(keep) ? keep : fallback;
  }
  async function loadChoices() {
    const c = await D.get("/compare/models");
    const key = JSON.stringify(c);
    if (choices && key === JSON.stringify(choices)) return;
    choices = c;
    const a = D.$("cmp-a"), b = D.$("cmp-b"), bench = D.$("cmp-bench");
    const ms = c.models || [];
    options(a, ms, a.value, ms[0] || "");
    options(b, ms, b.value, ms[ms.length - 1] || "");
    options(bench, c.benchmarks || [], bench.value, (c.benchmarks || [])[0] || "");
  }
  async function comparePage(force) {
    await loadChoices();
    const a = D.$("cmp-a").value, b = D.$("cmp-b").value, bench = D.$("cmp-bench").value;
    if (!a || !b) return;
    const q = "?a=" + encodeURIComponent(a) + "&b=" + encodeURIComponent(b) + (bench ? "&bench=" + encodeURIComponent(bench) : "");
    if (!force && q === shownKey) return;
    const d = await D.get("/compare" + q);
    shownKey = q;
    D.$("cmp-verdict").replaceChildren(...(d.verdict || []).map((l) => D.el("li", l)));
    const rows = [], bars = { x: [], y: [], lo: [], hi: [] };
    (d.tasks || []).forEach((t) => {
      const tiers = Object.assign({ all: t.metrics }, t.tiers || {});
      Object.entries(tiers).forEach(([tier, ms]) => {
        Object.entries(ms || {}).forEach(([m, x]) => {
          rows.push([t.name, tier, m, x.n, D.fmt(x.a, 3), D.fmt(x.b, 3), D.fmt(x.delta, 3), "[" + D.fmt(x.ci[0], 3) + ", " + D.fmt(x.ci[1], 3) + "]", D.fmt(x.p_value, 3), x.test, x.mde == null ? "–" : D.fmt(x.mde, 3), x.winner]);
          if (m === t.headline) { bars.x.push(tier); bars.y.push(x.delta); bars.lo.push(x.delta - x.ci[0]); bars.hi.push(x.ci[1] - x.delta); }
        });
      });
    });
    D.fillTable("cmp-table", rows);
    D.chart("chart-cmp", [{ type: "bar", x: bars.x, y: bars.y, name: "B − A", error_y: { type: "data", symmetric: false, array: bars.hi, arrayminus: bars.lo } }],
      { xaxis: { title: { text: "tier" }, type: "category" }, yaxis: { title: { text: d.b.ref + " − " + d.a.ref } } });
  }

  if (PAGE === "curve") D.register("curve", curvePage, CURVE_POLL_MS);
  if (PAGE === "compare") {
    D.register("compare", () => comparePage(false), COMPARE_POLL_MS);
    ["cmp-a", "cmp-b", "cmp-bench"].forEach((id) => D.$(id).addEventListener("change", () => comparePage(true).then(() => D.setText("updated", "updated " + new Date().toLocaleTimeString())).catch(D.report)));
  }
})();
