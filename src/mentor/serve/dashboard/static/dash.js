/* mentor dashboard: polls the JSON endpoints every second and redraws (view-only). */
(function () {
  "use strict";
  const body = document.body;
  const API = body.dataset.api;
  const PREFIX = body.dataset.prefix;
  const PAGE = body.dataset.page;
  const POLL_MS = 1000;
  const $ = (id) => document.getElementById(id);

  function setText(id, v) { const e = $(id); if (e) e.textContent = v == null ? "–" : String(v); }
  function fmt(x, d) {
    if (x == null || x === "" || Number.isNaN(x)) return "–";
    if (typeof x !== "number") return String(x);
    if (Math.abs(x) >= 1000) return x.toLocaleString(undefined, { maximumFractionDigits: 0 });
    return x.toFixed(d == null ? 4 : d).replace(/\.?0+$/, (m) => (m.startsWith(".") ? "" : m));
  }
  function pct(x) { return x == null ? "–" : (100 * x).toFixed(1) + "%"; }
  function when(ts) { return ts ? new Date(ts * 1000).toLocaleString() : "–"; }
  function dur(s) {
    if (s == null) return "–";
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + r + "s";
  }
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function fillTable(id, rows) {
    const tb = document.querySelector("#" + id + " tbody");
    if (!tb) return;
    tb.replaceChildren(...rows.map((cells) => {
      const tr = document.createElement("tr");
      cells.forEach((c) => tr.appendChild(c instanceof Node ? wrapTd(c) : el("td", c)));
      return tr;
    }));
  }
  function wrapTd(node) { const td = document.createElement("td"); td.appendChild(node); return td; }
  async function get(path) {
    const r = await fetch(API + path, { credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.json();
  }
  const LAYOUT = { margin: { l: 50, r: 15, t: 10, b: 35 }, legend: { orientation: "h", y: -0.2 },
    xaxis: { title: { text: "step" } }, paper_bgcolor: "#fff", plot_bgcolor: "#fff" };
  const CONFIG = { displaylogo: false, responsive: true };
  function chart(id, traces, extra) {
    const e = $(id);
    if (!e || !window.Plotly) return;
    Plotly.react(e, traces, Object.assign({}, LAYOUT, extra || {}), CONFIG);
  }
  // file boundaries of a lineage: a dotted vertical line and the file's name at each start
  function boundaryShapes(bounds) {
    const shapes = [], annotations = [];
    (bounds || []).forEach((b, i) => {
      if (i === 0 && !b.step) return;
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: b.step, x1: b.step, y0: 0, y1: 1,
        line: { color: "#888", width: 1, dash: "dot" } });
      annotations.push({ xref: "x", yref: "paper", x: b.step, y: 1, text: b.file, showarrow: false,
        xanchor: "left", yanchor: "top", font: { size: 10, color: "#666" } });
    });
    return { shapes: shapes, annotations: annotations };
  }
  function series(recs, key) {
    const xs = [], ys = [];
    recs.forEach((r) => { const v = r[key]; if (typeof v === "number" && r.step != null) { xs.push(r.step); ys.push(v); } });
    return { x: xs, y: ys };
  }

  // ---------------------------------------------------------------- overview
  async function overview() {
    const [o, m] = await Promise.all([get("/overview"), get("/metrics")]);
    const s = o.status || {};
    setText("v-state", s.status || "idle");
    setText("v-error", s.error_message || "");
    setText("v-file", s.current_file || "–");
    setText("v-step", s.current_step != null ? s.current_step + (s.total_steps ? " / " + s.total_steps : "") : "–");
    const p = o.progress || {};
    $("bar-total").style.width = p.total ? (100 * p.total.share).toFixed(1) + "%" : "0";
    $("bar-file").style.width = p.file ? (100 * p.file.share).toFixed(1) + "%" : "0";
    setText("v-file-progress", p.file ? p.file.step + " / " + p.file.of + " steps · ETA " + dur(p.file.eta_s) : "");
    setText("v-eta", p.total ? pct(p.total.share) + " · ETA " + dur(p.total.eta_s) : "");
    setText("v-loss", fmt(s.loss));
    setText("v-val", "val " + fmt(s.validation_loss) + (s.val_train_gap != null ? " · gap " + fmt(s.val_train_gap, 3) : ""));
    setText("v-tps", fmt(s.tokens_per_sec, 0));
    setText("v-lr", "lr " + (s.learning_rate != null ? Number(s.learning_rate).toExponential(2) : "–"));
    setText("v-acc", s.accuracy_percent != null ? fmt(s.accuracy_percent, 1) + "%" : "–");
    setText("v-acc-sub", (s.total_correct || 0) + " / " + (s.total_evals || 0) + " probe answers");
    sysCards(o.system || {});
    const al = $("alerts");
    const alerts = (o.alerts || []).map((a) => el("li", a.level + ": " + a.message, "level-" + a.level));
    (s.active_alerts || []).forEach((a) => { if (!(o.alerts || []).some((x) => a.indexOf(x.message) >= 0)) alerts.push(el("li", a, "level-warning")); });
    al.replaceChildren(...(alerts.length ? alerts : [el("li", "no active alerts", "muted")]));
    fillTable("queue", (o.queue || []).map((j) => [j.id, j.name, j.state, j.priority, (j.rows_done || 0) + (j.rows_total ? " / " + j.rows_total : "")]));
    $("events").replaceChildren(...(o.events || []).map((e) => el("li", when(e.ts) + " · " + e.kind + " · " + (e.message || ""), "level-" + e.level)));
    const recs = m.records || [];
    const files = new Set((m.boundaries || []).map((b) => b.file));
    setText("lineage-note", (m.runs || []).length + " run(s), " + files.size + " file(s) of the lineage" + (m.lineage_id != null ? " " + m.lineage_id : "") + ", by global step");
    const marks = Object.assign(boundaryShapes(m.boundaries), { xaxis: { title: { text: "global step (lineage)" } } });
    const loss = series(recs, "loss"), val = series(recs, "val_loss");
    chart("chart-loss", [
      { x: loss.x, y: loss.y, name: "loss", mode: "lines", line: { color: "#3056d3" } },
      { x: val.x, y: val.y, name: "validation loss", mode: "lines+markers", line: { color: "#c62828" } },
    ], marks);
    const lr = series(recs, "lr"); if (!lr.x.length) Object.assign(lr, series(recs, "learning_rate"));
    chart("chart-lr", [{ x: lr.x, y: lr.y, name: "lr", mode: "lines", line: { color: "#1a7f37" } }], marks);
    const tps = series(recs, "tokens_per_s");
    chart("chart-tps", [{ x: tps.x, y: tps.y, name: "tokens/s", mode: "lines", line: { color: "#b26a00" } }], marks);
  }
  function sysCards(sys) {
    const box = $("sys-cards");
    const cards = [];
    (sys.gpus || []).forEach((g) => {
      const c = el("div", null, "card");
      c.append(el("div", "GPU " + g.index + (g.name ? " · " + g.name : ""), "label"),
        el("div", (g.util_percent != null ? g.util_percent + "%" : "–"), "value"),
        el("div", "mem " + fmt(g.mem_used_gib, 1) + " / " + fmt(g.mem_total_gib, 1) + " GiB · " +
          (g.temperature_c != null ? g.temperature_c + " °C" : "– °C") + " · " + fmt(g.power_w, 0) + " W", "sub"));
      cards.push(c);
    });
    if (!cards.length) { const c = el("div", null, "card"); c.append(el("div", "GPU", "label"), el("div", "none", "value"), el("div", "no NVML device", "sub")); cards.push(c); }
    const t = sys.training || {};
    const mem = el("div", null, "card");
    mem.append(el("div", "Memory", "label"),
      el("div", fmt(sys.ram_used_gib, 1) + " / " + fmt(sys.ram_total_gib, 1) + " GiB", "value"),
      el("div", "training RSS " + fmt(t.sys_rss_gib, 2) + " GiB" + (t.sys_cuda_allocated_gib != null ? " · CUDA " + fmt(t.sys_cuda_allocated_gib, 2) + " / peak " + fmt(t.sys_cuda_peak_gib, 2) + " GiB" : "") + (t.mem_gib != null ? " · mem " + fmt(t.mem_gib, 2) + " GiB" : ""), "sub"));
    const disk = el("div", null, "card");
    disk.append(el("div", "Disk free", "label"), el("div", fmt(sys.disk_free_gib, 1) + " GiB", "value"), el("div", "CPU " + fmt(sys.cpu_percent, 0) + "%", "sub"));
    box.replaceChildren(...cards, mem, disk);
  }

  // ---------------------------------------------------------------- live
  let probeIndex = 0, lastProbeSwitch = 0;
  async function live() {
    const d = await get("/live");
    const p = d.latest;
    if (p) {
      setText("v-pstep", p.step);
      setText("v-pseconds", "took " + fmt(p.seconds, 2) + " s" + (p.adapters === "off" ? " · untrained (adapters off)" : ""));
      setText("v-psolved", p.solved + " / " + p.n);
      setText("v-pheadline", p.headline + " · " + pct(p.solved_share));
      setText("v-ploss", fmt(p.loss));
      const ex = p.examples || [];
      if (Date.now() - lastProbeSwitch > 5000 && ex.length) { probeIndex = (probeIndex + 1) % ex.length; lastProbeSwitch = Date.now(); }
      const e = ex[Math.min(probeIndex, ex.length - 1)];
      if (e) renderProbe(e, probeIndex, ex.length, p.step);
      fillTable("probes", ex.map((x) => [x.id, el("span", x.matches ? "✓" : "✗", x.matches ? "ok" : "bad"), fmt((x.scores || {})[p.headline], 3), fmt(x.loss), x.new_tokens]));
    }
    const tr = d.trend || [];
    chart("chart-acc", [
      { x: tr.map((t) => t.step), y: tr.map((t) => t.solved_share), name: "probes solved (share)", mode: "lines+markers", line: { color: "#1a7f37" } },
      { x: tr.map((t) => t.step), y: tr.map((t) => t.loss), name: "probe loss", mode: "lines+markers", yaxis: "y2", line: { color: "#3056d3", dash: "dot" } },
    ], { yaxis: { range: [0, 1.05], title: { text: "share" } }, yaxis2: { overlaying: "y", side: "right", title: { text: "loss" } } });
    fillTable("last-evals", (d.evals || []).map((e) => [e.id, when(e.created_at), e.benchmark, e.is_baseline ? "baseline" : (e.version || "–"), e.n, (e.headline.metric || "") + " " + fmt(e.headline.value, 3)]));
  }
  function renderProbe(e, i, n, step) {
    setText("probe-nav", "probe " + (i + 1) + " of " + n + " · " + e.id + " · step " + step);
    const box = $("current-probe");
    const cols = el("div", null, "cols");
    const left = el("div"), right = el("div");
    left.append(el("div", "Golden answer", "label"), el("pre", e.golden, "box"));
    right.append(el("div", null, "label"), el("pre", e.model_output, "box"));
    right.firstChild.append("Model output ", el("span", e.matches ? "✓ match" : "✗ no match", e.matches ? "ok" : "bad"));
    cols.append(left, right);
    const sc = Object.entries(e.scores || {}).map(([k, v]) => k + " " + fmt(v, 3)).join(" · ");
    box.replaceChildren(el("div", "Prompt", "label"), el("pre", e.prompt, "box"), cols, el("div", sc + " · loss " + fmt(e.loss), "muted small"));
  }

  // ---------------------------------------------------------------- evolution
  let evo = null, evoKey = "";
  async function evolution() {
    const d = await get("/evolution");
    const key = JSON.stringify([d.run, d.steps]);
    const sc = d.scores || [];
    chart("chart-evo", [
      { x: sc.map((s) => s.step), y: sc.map((s) => s.solved_share), name: "probes solved (share)", mode: "lines+markers" },
      { x: sc.map((s) => s.step), y: sc.map((s) => s.loss), name: "mean probe loss", mode: "lines+markers", yaxis: "y2" },
    ], { xaxis: { title: { text: "step (log)" }, type: sc.length > 2 ? "log" : "linear" }, yaxis: { range: [0, 1.05] }, yaxis2: { overlaying: "y", side: "right" } });
    evo = d;
    if (key === evoKey) return;
    evoKey = key;
    const ps = $("probe-select"), a = $("step-a"), b = $("step-b");
    const keepP = ps.value, keepA = a.value, keepB = b.value;
    ps.replaceChildren(...d.probes.map((p) => { const o = el("option", p.id + (p.tier ? " (" + p.tier + ")" : "")); o.value = p.id; return o; }));
    [a, b].forEach((sel) => sel.replaceChildren(...d.steps.map((s) => { const o = el("option", s); o.value = s; return o; })));
    if (keepP && d.probes.some((p) => p.id === keepP)) ps.value = keepP;
    const steps = d.steps.map(String);
    a.value = steps.includes(keepA) ? keepA : (steps.length > 1 ? steps[steps.length - 2] : steps[0] || "");
    b.value = steps.includes(keepB) && keepB !== steps[steps.length - 2] ? keepB : steps[steps.length - 1] || "";
    await showProbe();
  }
  async function showProbe() {
    if (!evo) return;
    const pid = $("probe-select").value;
    const p = evo.probes.find((x) => x.id === pid);
    if (!p) return;
    setText("evo-prompt", p.prompt);
    setText("evo-golden", p.golden);
    chart("chart-probe", [
      { x: p.timeline.map((t) => t.step), y: p.timeline.map((t) => t.score), name: (evo.headline || "score"), mode: "lines+markers" },
      { x: p.timeline.map((t) => t.step), y: p.timeline.map((t) => t.loss), name: "loss", mode: "lines+markers", yaxis: "y2" },
    ], { yaxis: { range: [-0.05, 1.05] }, yaxis2: { overlaying: "y", side: "right" } });
    const a = $("step-a").value, b = $("step-b").value;
    if (a === "" || b === "") return;
    const q = "?probe=" + encodeURIComponent(pid) + "&a=" + encodeURIComponent(a) + "&b=" + encodeURIComponent(b) + (evo.run ? "&run=" + encodeURIComponent(evo.run) : "");
    const df = await get("/evolution/diff" + q);
    setText("evo-sim", "step " + df.a + " → " + df.b + " · similarity " + pct(df.similarity));
    $("evo-diff").replaceChildren(...df.ops.flatMap((op) => {
      if (op.op === "equal") return [document.createTextNode(op.a)];
      const out = [];
      if (op.a) out.push(el("del", op.a));
      if (op.b) out.push(el("ins", op.b));
      return out;
    }));
  }
  if (PAGE === "evolution") {
    ["probe-select", "step-a", "step-b"].forEach((id) => $(id).addEventListener("change", () => showProbe().catch(report)));
  }

  // ---------------------------------------------------------------- evals, versions, reports
  async function evalsPage() {
    const d = await get("/evals");
    const box = $("bench-charts");
    const rows = [];
    if ((d.benchmarks || []).length) {
      const have = new Set(d.benchmarks.map((b) => "bench-" + b.benchmark));
      Array.from(box.children).forEach((c) => { if (!have.has(c.dataset.id)) c.remove(); });
      d.benchmarks.forEach((b) => {
        const id = "bench-" + b.benchmark;
        let panel = box.querySelector('[data-id="' + CSS.escape(id) + '"]');
        if (!panel) {
          panel = el("div", null, "panel"); panel.dataset.id = id;
          const c = el("div", null, "chart"); c.id = id;
          panel.append(el("h3", b.benchmark), c); box.append(panel);
        }
        const h = b.history;
        const x = h.map((p) => p.version || ("#" + p.id));
        const traces = [{ x: x, y: h.map((p) => p.value), name: "overall " + (h[0] ? h[0].metric : ""), mode: "lines+markers", type: "scatter" }];
        (b.tiers || []).forEach((t) => traces.push({ x: x, y: h.map((p) => p.tiers[t]), name: t, mode: "lines+markers", line: { dash: "dot" } }));
        const shapes = [];
        if (b.baseline && b.baseline.value != null) {
          shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: b.baseline.value, y1: b.baseline.value, line: { color: "#c62828", dash: "dash" } });
          traces.push({ x: [x[0] || "baseline"], y: [b.baseline.value], name: "baseline", mode: "markers", marker: { color: "#c62828" } });
        }
        chart(id, traces, { shapes: shapes, xaxis: { title: { text: "version" }, type: "category" }, yaxis: { range: [0, 1.05] } });
        (b.baseline ? [b.baseline] : []).concat(h).forEach((p) => rows.push([p.id, when(p.created_at), b.benchmark, p === b.baseline ? "baseline" : (p.version || p.model_ref), p.n, p.metric, fmt(p.value, 3), Object.entries(p.tiers || {}).map(([k, v]) => k + " " + fmt(v, 3)).join(", ")]));
      });
    }
    rows.sort((r1, r2) => r2[0] - r1[0]);
    fillTable("evals-table", rows);
  }
  async function versionsPage() {
    const d = await get("/versions");
    fillTable("versions", d.versions.map((v) => [v.name, when(v.created_at), v.parent || "–", v.kind, v.status, v.description, Object.entries(v.metrics || {}).slice(0, 4).map(([k, x]) => k + " " + (typeof x === "number" ? fmt(x, 3) : JSON.stringify(x))).join(", ")]));
  }
  async function reportsPage() {
    const d = await get("/reports");
    fillTable("reports", d.reports.map((r) => {
      const a = el("a", r.name); a.href = PREFIX + "/reports/" + r.name.split("/").map(encodeURIComponent).join("/"); a.target = "_blank"; a.rel = "noopener";
      return [a, when(r.mtime), (r.size / 1024).toFixed(1) + " KiB"];
    }));
  }

  // ---------------------------------------------------------------- the page registry
  // A page's handler redraws it; pages in their own script (analysis.js, ...) register theirs
  // through window.mentorDash before the first tick (every script has run by DOMContentLoaded).
  const handlers = {};
  function register(page, fn, pollMs) { handlers[page] = { fn: fn, pollMs: pollMs || POLL_MS }; }
  [["overview", overview], ["live", live], ["evolution", evolution], ["evals", evalsPage],
    ["versions", versionsPage], ["reports", reportsPage]].forEach(([p, fn]) => register(p, fn));
  function report(err) { setText("updated", "update failed: " + err.message); }
  async function tick() {
    const h = handlers[PAGE];
    if (!h) { report(new Error("no handler for page " + PAGE)); return; }
    try {
      await h.fn();
      setText("updated", "updated " + new Date().toLocaleTimeString());
    } catch (err) { report(err); }
    setTimeout(tick, h.pollMs);
  }
  window.mentorDash = { $: $, el: el, fmt: fmt, pct: pct, when: when, setText: setText, get: get,
    chart: chart, fillTable: fillTable, boundaryShapes: boundaryShapes, register: register, report: report };
  document.addEventListener("DOMContentLoaded", tick);
})();
