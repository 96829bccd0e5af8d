// tokenthrift dashboard: vanilla JS, inline SVG charts, no dependencies, no network
// except this gateway's own /ui/api/data. The HTML report (tokenthrift report html)
// embeds the same script with the data inline (window.TOKENTHRIFT_DATA).
"use strict";

(function () {
  const COLORS = ["#3867d6", "#20bf6b", "#f7b731", "#eb3b5a", "#8854d0", "#0fb9b1",
    "#fa8231", "#4b6584", "#a5b1c2"];
  const LEVER_COLORS = { exact_cache: "#20bf6b", semantic_cache: "#0fb9b1", routing: "#8854d0",
    compression: "#f7b731", prompt_cache: "#3867d6", batch: "#fa8231" };
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const state = { data: null, dimension: "team" };

  function usd(v) {
    if (v === null || v === undefined) return "—";
    const a = Math.abs(v);
    const digits = a >= 100 ? 2 : a >= 1 ? 4 : 6;
    return (v < 0 ? "−$" : "$") + a.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  const int = (v) => (v ?? 0).toLocaleString("en-US");
  const pct = (v) => (v === null || v === undefined ? "—" : (100 * v).toFixed(1) + "%");
  function esc(s) {
    return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  function when(ts, bucket) {
    const d = new Date(ts * 1000);
    const iso = d.toISOString();
    return bucket >= 86400 ? iso.slice(0, 10) : bucket >= 60 ? iso.slice(11, 16) : bucket >= 1 ? iso.slice(11, 19) : iso.slice(11, 23);
  }
  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  // Stacked bars per time bucket; optional lines drawn over them.
  function stackedBars(container, t, series, lines, bucket, fmt = usd) {
    container.innerHTML = "";
    const W = Math.max(container.clientWidth || 900, 320), H = container.classList.contains("small") ? 160 : 240, L = 64, R = 36, T = 10, B = 24;
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" }, container);
    let marks = 0;
    if (!t.length) {
      container.innerHTML = '<p class="empty">No requests in this range.</p>';
      container.dataset.marks = "0";
      return;
    }
    let max = 0, min = 0;
    t.forEach((_, i) => {
      let up = 0, down = 0;
      series.forEach((s) => { const v = s.values[i]; if (v > 0) up += v; else down += v; });
      max = Math.max(max, up); min = Math.min(min, down);
    });
    lines.forEach((l) => l.values.forEach((v) => { max = Math.max(max, v); }));
    if (max === min) max = min + 1;
    const y = (v) => T + (H - T - B) * (max - v) / (max - min);
    const step = (W - L - R) / t.length;
    for (let k = 0; k <= 4; k++) {
      const v = min + (max - min) * k / 4;
      el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e3e6ec" }, svg);
      el("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" }, svg).textContent = fmt(v);
    }
    t.forEach((ts, i) => {
      let up = 0, down = 0;
      series.forEach((s) => {
        const v = s.values[i];
        if (!v) return;
        const from = v > 0 ? up : down, to = from + v;
        if (v > 0) up = to; else down = to;
        const rect = el("rect", { x: L + i * step + step * 0.1, width: Math.max(step * 0.8, 1),
          y: Math.min(y(from), y(to)), height: Math.max(Math.abs(y(from) - y(to)), 0.5), fill: s.color,
          class: "mark" }, svg);
        el("title", {}, rect).textContent = `${s.name} ${when(ts, bucket)}: ${fmt(v)}`;
        marks++;
      });
      if (i % Math.ceil(t.length / Math.max(2, Math.floor((W - L) / 110))) === 0)
        el("text", { x: L + i * step + step / 2, y: H - 6, "text-anchor": "middle" }, svg).textContent = when(ts, bucket);
    });
    lines.forEach((l) => {
      const pts = l.values.map((v, i) => `${L + i * step + step / 2},${y(v)}`).join(" ");
      el("polyline", { points: pts, fill: "none", stroke: l.color, "stroke-width": 2, "stroke-dasharray": l.dash || "", class: "line" }, svg);
    });
    container.dataset.marks = String(marks);
  }

  function legend(container, items) {
    container.innerHTML = items.map((s) => `<span><span class="swatch" style="background:${s.color}"></span>${esc(s.name)}${s.total !== undefined ? " " + usd(s.total) : ""}</span>`).join("");
  }
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);

  function renderSpend(d) {
    const byName = d.series.spend[state.dimension] || {};
    const series = Object.entries(byName).map(([name, values], i) => ({ name, values, color: COLORS[i % COLORS.length], total: sum(values) }));
    stackedBars($("chart-spend"), d.series.t, series, [], d.bucket_s);
    legend($("legend-spend"), series);
  }

  function renderSavings(d) {
    const series = Object.entries(d.series.saved).map(([name, values], i) => ({ name: name.replace(/_/g, " "), values, color: LEVER_COLORS[name] || COLORS[i % COLORS.length], total: sum(values) }));
    const costSeries = { name: "cost", values: d.series.cost, color: "#a5b1c2" };
    stackedBars($("chart-savings"), d.series.t, [costSeries, ...series],
      [{ name: "baseline", values: d.series.baseline, color: "#1d2330", dash: "4 3" }], d.bucket_s);
    legend($("legend-savings"), [{ ...costSeries, total: sum(d.series.cost) }, ...series, { name: "baseline (as asked, no levers)", color: "#1d2330", total: sum(d.series.baseline) }]);
  }

  function table(head, rows, numeric) {
    if (!rows.length) return '<p class="empty">Nothing yet.</p>';
    const th = head.map((h, i) => `<th class="${numeric.includes(i) ? "num" : ""}">${h}</th>`).join("");
    const body = rows.map((r) => "<tr>" + r.map((c, i) => `<td class="${numeric.includes(i) ? "num" : ""}">${c}</td>`).join("") + "</tr>").join("");
    return `<table><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
  }
  function bar(share, cls) {
    return `<div class="bar ${cls || ""}"><span style="width:${Math.max(0, Math.min(100, share * 100)).toFixed(1)}%"></span></div>`;
  }

  function renderKpis(d) {
    const t = d.totals || {};
    const saved = t.saved_usd ?? 0, baseline = t.baseline_cost_usd ?? 0;
    const kpis = [
      ["Spend", usd(t.cost_usd)], ["Baseline (as asked)", usd(t.baseline_cost_usd)],
      ["Saved", usd(saved) + (baseline ? ` (${pct(saved / baseline)})` : ""), "good"],
      ["Requests", int(t.requests)], ["Cache hit rate", pct(d.cache.hit_rate)],
      ["Not a lever (fallbacks)", usd(t.unattributed_usd)],
    ];
    $("kpis").innerHTML = kpis.map(([label, value, cls]) => `<div class="kpi"><div class="label">${label}</div><div class="value ${cls || ""}" data-kpi="${esc(label)}">${value}</div></div>`).join("");
    const parts = [`${int(d.rows)} requests charted`];
    if (d.truncated) parts.push("charts show the latest requests only; totals cover the whole range");
    $("note").textContent = parts.join(" · ");
  }

  function renderLevers(d) {
    const max = Math.max(0, ...d.levers.map((l) => Math.abs(l.saved_usd)));
    $("levers").innerHTML = table(["lever", "requests", "saved", ""], d.levers.map((l) => [
      esc(l.lever.replace(/_/g, " ")), int(l.requests), `<span class="${l.saved_usd < 0 ? "cost-more" : "saving"}">${usd(l.saved_usd)}</span>`, bar(max ? Math.abs(l.saved_usd) / max : 0)]), [1, 2]);
  }

  function renderCache(d) {
    const rates = d.series.requests.map((n, i) => (n ? d.series.hits[i] / n : 0));
    const container = $("chart-cache");
    stackedBars(container, d.series.t, [{ name: "hit rate", values: rates, color: "#20bf6b" }], [], d.bucket_s, pct);
    const by = d.cache.by_status || {};
    $("cache-status").innerHTML = Object.keys(by).length ? Object.entries(by).map(([k, v]) => `<span class="mono">${esc(k)}: ${int(v)}</span>`).join(" · ") : "";
  }

  function renderRouting(d) {
    const total = sum(d.routing.map((r) => r.requests));
    $("routing").innerHTML = table(["asked for", "served by", "requests", "cost", ""], d.routing.slice(0, 12).map((r) => [
      esc(r.requested_model), esc(r.served_model) + (r.fallbacks ? ` <small>(${r.fallbacks} fallback)</small>` : ""), int(r.requests), usd(r.cost_usd), bar(total ? r.requests / total : 0)]), [2, 3]);
  }

  function renderBudgets(d) {
    const target = $("budgets");
    if (d.budgets === null || d.budgets === undefined) {
      target.innerHTML = '<p class="empty">Budgets are live data: open the dashboard on a running gateway (/ui).</p>';
      return;
    }
    if (!d.budgets.length) {
      target.innerHTML = '<p class="empty">No budgets set. Add one with <span class="mono">tokenthrift budgets set</span> or POST /admin/budgets.</p>';
      return;
    }
    target.innerHTML = table(["budget", "period", "spent", "remaining", "used", "period ends"], d.budgets.map((b) => {
      const used = b.usd ? (b.spent + b.reserved) / b.usd : 0;
      return [`${esc(b.scope)}: ${esc(b.id)}`, esc(b.period), usd(b.spent), usd(b.remaining), bar(used, used >= 1 ? "over" : used >= 0.8 ? "warn" : "") + `<small>${pct(used)} of ${usd(b.usd)}</small>`, esc(b.period_end || "never")];
    }), [2, 3]);
  }

  function renderPrompts(d) {
    $("prompts").innerHTML = table(["prompt template", "teams", "models", "requests", "cost", "saved", "the audit recommends"], d.top_prompts.map((p) => [
      p.text ? esc(p.text) : `<span class="mono">${esc(p.fingerprint.slice(0, 16))}…</span> <small>(text not stored: storage.prompts: full)</small>`,
      esc(p.teams.join(", ")), esc(p.models.join(", ")), int(p.requests), usd(p.cost_usd), usd(p.saved_usd),
      (p.recommendations || []).map((r) => `<span title="${esc(r.reason)}">${esc(r.lever.replace(/_/g, " "))} ~${usd(r.monthly_usd)}/month</span>`).join("<br>") || "—"]), [3, 4, 5]);
  }

  function renderRecent(d) {
    $("recent").innerHTML = table(["time", "team", "model", "status", "cache", "tokens in/cached/out", "baseline", "saved by lever", "cost", "overhead"], d.recent.map((r) => {
      const levers = Object.entries(r.savings).map(([k, v]) => `${esc(k.replace(/_/g, " "))} ${usd(v)}`);
      if (r.unattributed_usd) levers.push(`not a lever ${usd(r.unattributed_usd)}`);
      const model = r.served_model && r.served_model !== r.requested_model ? `${esc(r.requested_model)} → ${esc(r.served_model)}` : esc(r.requested_model);
      return [new Date(r.ts * 1000).toISOString().slice(5, 19).replace("T", " "), esc(r.team || "—"), model, String(r.status), esc(r.cache),
        `${int(r.input_tokens)} / ${int(r.cache_read_tokens)} / ${int(r.output_tokens)}`, usd(r.baseline_cost_usd), levers.join("<br>") || "—", usd(r.cost_usd), `${r.overhead_ms.toFixed(2)} ms`];
    }), [6, 8, 9]);
  }

  function render() {
    const d = state.data;
    renderKpis(d); renderSpend(d); renderSavings(d); renderLevers(d); renderCache(d);
    renderRouting(d); renderBudgets(d); renderPrompts(d); renderRecent(d);
    const teamSelect = $("team"), current = teamSelect.value;
    teamSelect.innerHTML = '<option value="*">all teams</option>' + d.teams.map((t) => `<option value="${esc(t)}">${t ? esc(t) : "(no team)"}</option>`).join("");
    teamSelect.value = d.team === null ? "*" : d.team;
    if (teamSelect.value === "" && current === "*") teamSelect.value = "*";
    $("footer").textContent = `Data from the ledger at ${new Date(d.generated_at * 1000).toISOString()}; time buckets of ${d.bucket_s} s.`;
    document.body.dataset.loaded = String(Date.now());
  }

  async function load() {
    const params = new URLSearchParams({ since: $("range").value });
    if ($("team").value !== "*") params.set("team", $("team").value);
    const response = await fetch("/ui/api/data?" + params.toString(), { credentials: "same-origin" });
    if (response.status === 401) { window.location.reload(); return; }
    state.data = await response.json();
    render();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("dimension").addEventListener("change", (e) => { state.dimension = e.target.value; if (state.data) renderSpend(state.data); });
    if (window.TOKENTHRIFT_DATA) {  // the standalone HTML report: data inline, no filters
      $("filters").style.display = "none";
      state.data = window.TOKENTHRIFT_DATA;
      render();
      return;
    }
    $("range").addEventListener("change", load);
    $("team").addEventListener("change", load);
    load();
    setInterval(() => { if (!document.hidden) load(); }, 30000);
  });
})();
