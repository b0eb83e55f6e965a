/* sdplanner scenario explorer: the page. Plain JavaScript, an SVG chart drawn here, no
 * library and nothing fetched from outside the explorer's own server.
 *
 * Values arrive in the model's units; the page shows them in the display units the server
 * sends (`display`: percent for shares, money in billion yuan at constant prices), with the
 * scenarios' titles and the colours of every other sdplanner figure (`series[].color`).
 *
 * Each change of a lever, the region or the indicator posts the page's state to /api/run;
 * while a request is on its way, further changes are gathered and sent as one request when
 * it returns, so the chart always ends on the latest state. Timings of each redraw (from the
 * change to the painted chart) are kept in window.sdplannerExplorer.timings.
 */
"use strict";

(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const W = 760;
  const H = 420;
  const M = { left: 74, right: 18, top: 16, bottom: 40 };
  const ROLE_LABEL = { baseline: "baseline", start: "starting scenario", edited: "edited" };
  // legend words of observed points by role: the figures' (GET /api/meta, observed.labels)
  const observedLabel = (role) => S.meta.observed.labels[role] || S.meta.observed.labels["not fitted"];

  const S = {
    meta: null,
    scenarioFile: null,
    edits: {},
    region: null,
    indicator: null,
    inflight: false,
    dirty: false,
    inputAt: 0,
    revision: 0,
    errors: 0,
    last: null,
    nameTouched: false,
    timings: [],
  };
  window.sdplannerExplorer = S;

  const $ = (id) => document.getElementById(id);

  // ---- talking to the server -----------------------------------------------------------
  async function request(path, body) {
    let res;
    try {
      res = await fetch(path, body === undefined ? {} : {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (err) {
      throw new Error(`cannot reach the explorer server (${err.message}); is sdplanner serve running?`);
    }
    if (!res.ok) {
      let message = `${res.status} ${res.statusText}`;
      try {
        const data = await res.json();
        if (data && data.error) message = data.error;
      } catch (_) { /* not JSON: keep the status line */ }
      const err = new Error(message);
      err.status = res.status;
      throw err;
    }
    return res;
  }

  async function getJSON(path) {
    return (await request(path)).json();
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
    S.errors += 1;
    $("chart").dataset.errors = String(S.errors);
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  // ---- formatting ------------------------------------------------------------------------
  const whole = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
  const digits = new Intl.NumberFormat("en", { maximumSignificantDigits: 3 });

  // A number for people: thousands separators, three significant figures, never an exponent.
  function fmt(v) {
    if (v === null || v === undefined || !Number.isFinite(v)) return "–";
    if (v === 0) return "0";
    return Math.abs(v) >= 1000 ? whole.format(v) : digits.format(v);
  }

  // A model value in display units (null stays null).
  function shown(v, scale) {
    return v === null || v === undefined ? null : v * scale;
  }

  function capital(text) {
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function pretty(name) {
    const text = name.replace(/_/g, " ").replace(/\bppp\b/g, "PPP");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function el(tag, attrs = {}, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- the controls ----------------------------------------------------------------------
  function scenarioEntry() {
    return S.meta.scenarios.find((s) => s.file === S.scenarioFile);
  }

  function leverSetting(lever) {
    const scen = scenarioEntry();
    const set = scen && scen.levers ? scen.levers[lever.name] : undefined;
    return set || { strength: 0, start: lever.default_start, ramp_years: lever.default_ramp_years, regions: {} };
  }

  function buildPickers() {
    const scenario = $("scenario");
    for (const s of S.meta.scenarios) {
      const label = s.error ? `${s.file} (invalid)` : `${s.title} (${s.file})`;
      const opt = el("option", { value: s.file }, label);
      if (s.error) { opt.disabled = true; opt.title = s.error; }
      scenario.append(opt);
    }
    const first = S.meta.scenarios.find((s) => !s.error);
    S.scenarioFile = S.meta.baseline || (first ? first.file : null);
    scenario.value = S.scenarioFile;
    for (const r of S.meta.regions) $("region").append(el("option", { value: r }, r));
    S.region = S.meta.regions[0];
    for (const ind of S.meta.indicators) {
      const opt = el("option", { value: ind.name }, `${ind.display.label} (${ind.display.unit})`);
      opt.title = ind.comment;
      $("indicator").append(opt);
    }
    S.indicator = S.meta.default_indicator;
    $("indicator").value = S.indicator;
  }

  function buildLevers() {
    const box = $("levers");
    for (const path of S.meta.paths) {
      const fs = el("fieldset");
      fs.append(el("legend", {}, `${path.section} ${path.title}`));
      for (const lv of path.levers) {
        const step = (lv.max - lv.min) / 200;
        const div = el("div", { class: "lever", id: `lever-${lv.name}`, "data-lever": lv.name });
        div.title = `${lv.description}\nCost: ${lv.cost_rule}`;
        const head = el("div", { class: "head" });
        head.append(el("label", { for: `strength-${lv.name}` }, pretty(lv.name)));
        head.append(el("span", { class: "range" }, `${fmt(lv.min)}–${fmt(lv.max)} ${lv.unit}`));
        const row = el("div", { class: "row" });
        const slider = el("input", {
          type: "range", id: `strength-${lv.name}`, min: lv.min, max: lv.max, step,
          "aria-label": `${pretty(lv.name)} strength (${lv.unit})`,
        });
        const number = el("input", {
          type: "number", id: `value-${lv.name}`, min: lv.min, max: lv.max, step: "any",
          "aria-label": `${pretty(lv.name)} strength (${lv.unit}), typed`,
        });
        row.append(slider, number);
        const details = el("details");
        details.append(el("summary", {}, "timing: start year, ramp years"));
        const timing = el("div", { class: "timing" });
        timing.append(el("label", { for: `start-${lv.name}` }, "start"));
        const start = el("input", {
          type: "number", id: `start-${lv.name}`, step: "1",
          min: S.meta.model.initial_time, max: S.meta.model.final_time,
        });
        timing.append(start, el("label", { for: `ramp-${lv.name}` }, "ramp years"));
        const ramp = el("input", {
          type: "number", id: `ramp-${lv.name}`, step: "1", min: 0, max: S.meta.limits.max_ramp_years,
        });
        timing.append(ramp);
        details.append(timing);
        div.append(head, row, details, el("div", { class: "overrides", id: `overrides-${lv.name}` }));
        fs.append(div);

        slider.addEventListener("input", () => {
          number.value = slider.value;
          number.classList.remove("invalid");
          setEdit(lv.name, "strength", Number(slider.value));
        });
        const typed = (input, field) => () => {
          const raw = input.value.trim();
          const v = raw === "" ? null : Number(raw);
          const ok = v !== null && Number.isFinite(v);
          input.classList.toggle("invalid", !ok || v < Number(input.min) || v > Number(input.max));
          if (ok && field === "strength" && v >= lv.min && v <= lv.max) slider.value = String(v);
          setEdit(lv.name, field, ok ? v : raw);
        };
        number.addEventListener("change", typed(number, "strength"));
        start.addEventListener("change", typed(start, "start"));
        ramp.addEventListener("change", typed(ramp, "ramp_years"));
      }
      box.append(fs);
    }
  }

  function syncControls() {
    for (const path of S.meta.paths) {
      for (const lv of path.levers) {
        const set = leverSetting(lv);
        $(`strength-${lv.name}`).value = String(set.strength);
        $(`value-${lv.name}`).value = String(set.strength);
        $(`start-${lv.name}`).value = String(set.start);
        $(`ramp-${lv.name}`).value = String(set.ramp_years);
        for (const id of [`value-${lv.name}`, `start-${lv.name}`, `ramp-${lv.name}`]) {
          $(id).classList.remove("invalid");
        }
        $(`lever-${lv.name}`).classList.remove("edited");
        const regions = Object.entries(set.regions || {});
        $(`overrides-${lv.name}`).textContent = regions.length
          ? "per-region settings of the file (kept for fields you do not edit): " +
            regions.map(([r, o]) => `${r} ${Object.entries(o).map(([k, v]) => `${k} ${v}`).join(", ")}`).join("; ")
          : "";
      }
    }
    const scen = scenarioEntry();
    $("scenario-description").textContent = scen ? scen.description || "" : "";
    if (!S.nameTouched && scen) $("name").value = `${scen.name}-edited`;
  }

  function setEdit(lever, field, value) {
    S.edits[lever] = S.edits[lever] || {};
    S.edits[lever][field] = value;
    $(`lever-${lever}`).classList.add("edited");
    schedule();
  }

  function body(extra = {}) {
    return { scenario: S.scenarioFile, levers: S.edits, region: S.region, indicator: S.indicator, ...extra };
  }

  // ---- running ---------------------------------------------------------------------------
  function schedule() {
    S.dirty = true;
    S.inputAt = performance.now();
    $("chart").dataset.busy = "1";
    if (!S.inflight) runNow();
  }

  async function runNow() {
    S.inflight = true;
    S.dirty = false;
    const inputAt = S.inputAt;
    const sent = performance.now();
    try {
      const res = await (await request("/api/run", body())).json();
      const received = performance.now();
      draw(res);
      clearError();
      requestAnimationFrame(() => {
        const painted = performance.now();
        const t = {
          revision: S.revision,
          input_to_paint_ms: painted - inputAt,
          request_to_paint_ms: painted - sent,
          request_ms: received - sent,
          server_ms: res.timing_ms.total,
          model_ms: res.timing_ms.model,
        };
        S.timings.push(t);
        if (S.timings.length > 1000) S.timings.shift();
        $("status").textContent =
          `${S.meta.engine} engine · model ${res.timing_ms.model.toFixed(0)} ms · ` +
          `${t.input_to_paint_ms.toFixed(0)} ms from change to chart`;
      });
    } catch (err) {
      showError(err.message);
    } finally {
      S.inflight = false;
      if (S.dirty) {
        runNow();
      } else {
        $("chart").dataset.busy = "0";
      }
    }
  }

  // ---- the chart ---------------------------------------------------------------------------
  function niceTicks(lo, hi, count) {
    if (!(hi - lo > Math.max(Math.abs(lo), Math.abs(hi)) * 1e-9)) {
      // a flat line (or one flat to rounding): give it a band of 5 % around its value
      const d = Math.abs(lo) || 1;
      lo -= d * 0.05;
      hi += d * 0.05;
    }
    const raw = (hi - lo) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => raw <= s) || 10 * mag;
    const ticks = [];
    const start = Math.floor(lo / step) * step;
    for (let i = 0; i <= 4 * count; i += 1) {
      const v = start + i * step;
      if (v > hi + step * 1e-9) break;
      ticks.push(Number(v.toPrecision(12)));
    }
    if (ticks[0] > lo) ticks.unshift(ticks[0] - step);
    if (ticks[ticks.length - 1] < hi) ticks.push(ticks[ticks.length - 1] + step);
    return ticks;
  }

  function pathData(xs, ys, x, y) {
    let d = "";
    let pen = false;
    for (let i = 0; i < xs.length; i += 1) {
      if (ys[i] === null || ys[i] === undefined) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${x(xs[i]).toFixed(2)},${y(ys[i]).toFixed(2)}`;
      pen = true;
    }
    return d;
  }

  function areaData(xs, lo, hi, x, y) {
    const idx = xs.map((_, i) => i).filter((i) => lo[i] !== null && hi[i] !== null);
    if (!idx.length) return "";
    const top = idx.map((i) => `${x(xs[i]).toFixed(2)},${y(hi[i]).toFixed(2)}`);
    const bottom = idx.slice().reverse().map((i) => `${x(xs[i]).toFixed(2)},${y(lo[i]).toFixed(2)}`);
    return `M${top.join("L")}L${bottom.join("L")}Z`;
  }

  function draw(res) {
    S.last = res;
    const chart = $("chart");
    while (chart.firstChild) chart.removeChild(chart.firstChild);
    const d = res.display;
    const sc = (list) => list.map((v) => shown(v, d.scale));
    $("chart-title").textContent = `${capital(d.label)} (${d.unit}) · ${res.region}`;

    const values = [];
    const years = [];
    for (const s of res.series) {
      sc(s.values).forEach((v) => { if (v !== null) values.push(v); });
      years.push(...s.years);
    }
    if (res.bands) {
      for (const k of ["p05", "p95"]) sc(res.bands[k]).forEach((v) => { if (v !== null) values.push(v); });
    }
    res.observed.forEach((p) => { values.push(p.value * d.scale); years.push(p.year); });
    const x0 = Math.min(...years);
    const x1 = Math.max(...years);
    let y0 = values.length ? Math.min(...values) : 0;
    let y1 = values.length ? Math.max(...values) : 1;
    const yt = niceTicks(y0, y1, 6);
    y0 = yt[0];
    y1 = yt[yt.length - 1];
    const x = (v) => M.left + ((v - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
    const y = (v) => H - M.bottom - ((v - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom);

    const grid = svg("g", { class: "grid-layer" });
    for (const t of yt) {
      grid.append(svg("line", { class: "grid", x1: M.left, x2: W - M.right, y1: y(t), y2: y(t) }));
      grid.append(svg("text", { x: M.left - 6, y: y(t) + 4, "text-anchor": "end" }, fmt(t)));
    }
    const xstep = x1 - x0 > 30 ? 10 : 5;
    for (let t = Math.ceil(x0 / xstep) * xstep; t <= x1; t += xstep) {
      grid.append(svg("line", { class: "grid", x1: x(t), x2: x(t), y1: M.top, y2: H - M.bottom }));
      grid.append(svg("text", { x: x(t), y: H - M.bottom + 18, "text-anchor": "middle" }, String(t)));
    }
    grid.append(svg("line", { class: "axis", x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom }));
    grid.append(svg("line", { class: "axis", x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom }));
    grid.append(svg("text", { x: W - M.right, y: H - 6, "text-anchor": "end" }, "year"));
    grid.append(svg("text", { x: 12, y: M.top + 4, transform: `rotate(-90 12 ${M.top + 4})`, "text-anchor": "end" }, d.unit));
    chart.append(grid);

    if (res.bands) {
      const b = res.bands;
      const color = res.series.find((s) => s.name === b.scenario)?.color || "#0f766e";
      chart.append(svg("path", { class: "band-outer", fill: color, "data-role": "band-90", d: areaData(b.years, sc(b.p05), sc(b.p95), x, y) }));
      chart.append(svg("path", { class: "band-inner", fill: color, "data-role": "band-50", d: areaData(b.years, sc(b.p25), sc(b.p75), x, y) }));
      chart.append(svg("path", { class: "band-median", stroke: color, "data-role": "band-median", d: pathData(b.years, sc(b.p50), x, y) }));
    }
    for (const s of res.series) {
      const p = svg("path", {
        class: `series ${s.role}`,
        stroke: s.color,
        d: pathData(s.years, sc(s.values), x, y),
        "data-role": s.role,
        "data-name": s.name,
        "data-years": JSON.stringify(s.years),
        "data-values": JSON.stringify(s.values),
      });
      p.append(svg("title", {}, `${ROLE_LABEL[s.role]}: ${s.title}`));
      chart.append(p);
    }
    for (const o of res.observed) {
      const fitted = o.role === "fitted";
      const c = svg("circle", {
        class: `observed ${fitted ? "fitted" : "not-fitted"} ${o.kind}`,
        cx: x(o.year), cy: y(o.value * d.scale), r: o.kind === "sub-area" ? 3.5 : 4.5,
        "data-year": o.year, "data-value": o.value, "data-role": o.role,
      });
      c.append(svg("title", {}, `${observedLabel(o.role)} ${o.year}: ${fmt(o.value * d.scale)} ${d.unit} (${o.area}${o.source ? `, ${o.source}` : ""})`));
      chart.append(c);
    }
    const cursor = svg("line", { class: "cursor", y1: M.top, y2: H - M.bottom, visibility: "hidden" });
    chart.append(cursor);
    const overlay = svg("rect", {
      x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom,
      fill: "transparent",
    });
    overlay.addEventListener("mousemove", (ev) => {
      const box = chart.getBoundingClientRect();
      const px = ((ev.clientX - box.left) / box.width) * W;
      const year = Math.round(x0 + ((px - M.left) / (W - M.left - M.right)) * (x1 - x0));
      cursor.setAttribute("x1", x(year));
      cursor.setAttribute("x2", x(year));
      cursor.setAttribute("visibility", "visible");
      const parts = res.series.map((s) => {
        const i = s.years.indexOf(year);
        return `${ROLE_LABEL[s.role]} ${i >= 0 ? fmt(shown(s.values[i], d.scale)) : "–"}`;
      });
      $("readout").textContent = `${year}: ${parts.join(" · ")} (${d.unit})`;
    });
    overlay.addEventListener("mouseleave", () => cursor.setAttribute("visibility", "hidden"));
    chart.append(overlay);

    drawLegend(res);
    drawSummary(res);
    S.revision += 1;
    chart.dataset.revision = String(S.revision);
  }

  function drawLegend(res) {
    const legend = $("legend");
    legend.replaceChildren();
    for (const s of res.series) {
      const li = el("li");
      const sw = svg("svg", { class: "swatch-line", width: 26, height: 8, viewBox: "0 0 26 8" });
      sw.append(svg("line", { class: `series ${s.role}`, x1: 0, x2: 26, y1: 4, y2: 4, stroke: s.color }));
      li.append(sw, `${ROLE_LABEL[s.role]}: ${s.title}`);
      legend.append(li);
    }
    if (res.bands) {
      const li = el("li");
      const band = res.series.find((s) => s.name === res.bands.scenario);
      const sw = svg("svg", { class: "swatch-line", width: 26, height: 10, viewBox: "0 0 26 10" });
      sw.append(svg("rect", { class: "band-inner", x: 0, y: 0, width: 26, height: 10, fill: band ? band.color : "#0f766e" }));
      li.append(sw, `ensemble of ${band ? band.title : res.bands.scenario}: 5–95 % and 25–75 %, median dashed`);
      legend.append(li);
    }
    for (const role of ["fitted", "not fitted"]) {
      const shown = res.observed.filter((o) => (o.role || "not fitted") === role);
      if (!shown.length) continue;
      const li = el("li", { "data-role": role });
      const small = shown.some((o) => o.kind === "sub-area") ? " (small: a part of the region)" : "";
      li.append(el("span", { class: `swatch observed ${role === "fitted" ? "fitted" : "not-fitted"}` }), observedLabel(role) + small);
      legend.append(li);
    }
  }

  function drawSummary(res) {
    const table = $("summary");
    table.replaceChildren();
    const sm = res.summary;
    const d = res.display;
    const cost = res.cost_display;
    const head = el("tr");
    head.append(el("th", {}, `${capital(d.label)} (${d.unit})`));
    for (const yr of sm.years) head.append(el("th", {}, String(yr)));
    head.append(el("th", {}, `policy cost 2010-${sm.rows[0].final_year}, ${cost.unit}, undiscounted`));
    table.append(head);
    const base = sm.rows[0];
    for (const row of sm.rows) {
      const tr = el("tr", { "data-role": row.role });
      tr.append(el("td", {}, `${ROLE_LABEL[row.role]}: ${row.title}`));
      row.values.forEach((v) => tr.append(el("td", { "data-value": String(v) }, fmt(shown(v, d.scale)))));
      tr.append(el("td", { "data-value": String(row.cumulative_policy_cost) }, fmt(shown(row.cumulative_policy_cost, cost.scale))));
      table.append(tr);
    }
    const edited = sm.rows[sm.rows.length - 1];
    const tr = el("tr", { "data-role": "difference" });
    tr.append(el("td", {}, `edited − baseline (${d.delta_unit})`));
    edited.values.forEach((v, i) => {
      const b = base.values[i];
      const diff = v === null || b === null ? null : v - b;
      const text = diff === null ? "–" : (diff > 0 ? "+" : "") + fmt(diff * d.scale);
      tr.append(el("td", { "data-value": String(diff) }, text));
    });
    const dc = edited.cumulative_policy_cost - base.cumulative_policy_cost;
    tr.append(el("td", { "data-value": String(dc) }, (dc > 0 ? "+" : "") + fmt(dc * cost.scale)));
    table.append(tr);
  }

  // ---- saving ----------------------------------------------------------------------------
  function filenameOf(res, fallback) {
    const cd = res.headers.get("Content-Disposition") || "";
    const m = /filename="([^"]+)"/.exec(cd);
    return m ? m[1] : fallback;
  }

  function offer(text, filename, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = el("a", { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function save() {
    try {
      const res = await request("/api/scenario", body({ name: $("name").value }));
      const text = await res.text();
      const filename = filenameOf(res, "scenario.yaml");
      $("yaml").textContent = text;
      $("yaml").dataset.filename = filename;
      $("yaml-panel").open = true;
      clearError();
      offer(text, filename, "application/x-yaml");
    } catch (err) {
      showError(err.message);
    }
  }

  async function downloadCsv() {
    try {
      const res = await request("/api/csv", body({ name: $("name").value }));
      const text = await res.text();
      clearError();
      offer(text, filenameOf(res, "results.csv"), "text/csv");
    } catch (err) {
      showError(err.message);
    }
  }

  // ---- start -----------------------------------------------------------------------------
  async function init() {
    try {
      S.meta = await getJSON("/api/meta");
    } catch (err) {
      showError(err.message);
      $("status").textContent = "not connected";
      return;
    }
    buildPickers();
    buildLevers();
    syncControls();
    $("footnote").textContent =
      `Model ${S.meta.model.path} (sha256 ${S.meta.model.sha256.slice(0, 12)}…), engine ${S.meta.engine},` +
      ` parameters: ${S.meta.parameters}` +
      (S.meta.ensemble ? `; ensemble ${S.meta.ensemble.path}` : "") +
      ". A lever you move applies to all 14 regions.";
    $("scenario").addEventListener("change", () => {
      S.scenarioFile = $("scenario").value;
      S.edits = {};
      syncControls();
      schedule();
    });
    $("region").addEventListener("change", () => { S.region = $("region").value; schedule(); });
    $("indicator").addEventListener("change", () => { S.indicator = $("indicator").value; schedule(); });
    $("reset").addEventListener("click", () => { S.edits = {}; syncControls(); schedule(); });
    $("name").addEventListener("input", () => { S.nameTouched = true; });
    $("save").addEventListener("click", save);
    $("download-csv").addEventListener("click", downloadCsv);
    schedule();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
