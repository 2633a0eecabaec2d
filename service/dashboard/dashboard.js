// anomalyd dashboard: plain JavaScript over the service's JSON API (/v1), charts by uPlot.
// The view and its state live in the URL hash (#/series?id=...&start=...&end=...), so a view
// can be shared.
"use strict";

const API = new URL("../v1/", location.href);
const COLORS = { value: "#2563eb", score: "#7c3aed", warning: "rgba(245,158,11,0.25)",
  critical: "rgba(220,38,38,0.30)", line: "#d97706", criticalLine: "#dc2626" };
const view = document.getElementById("view");
const errorBox = document.getElementById("error");
const CHANNEL_COLORS = ["#2563eb", "#059669", "#d97706", "#db2777", "#0891b2", "#65a30d"];
// plots by group: the charts of a view ("main") and the curves beside them ("curves"), so
// redrawing one group leaves the other; `generation` changes with every render, so a request
// that answers after the view changed draws nothing
const live = { timer: null, generation: 0, groups: { main: [], curves: [] } };
// what is drawn now, for tests and the browser console
window.anomalyd = { plots: live.groups.main, alerts: [] };
const DAY = 86400;
const HOUR = 3600;

// ------------------------------------------------------------------ plumbing
function parseHash() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  return { name: path || "live", params: new URLSearchParams(query || "") };
}

function setHash(name, params) {
  const query = params.toString();
  history.replaceState(null, "", `#/${name}${query ? "?" + query : ""}`);
}

async function getJSON(path, params) {
  const url = new URL(path, API);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, v);
  }
  const response = await fetch(url);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    throw new Error(`${response.status} from ${url.pathname}: ${detail}`);
  }
  return body;
}

function showError(err) {
  errorBox.textContent = String(err.message || err);
  errorBox.hidden = false;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data")) node.setAttribute(k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()), v);
    else node[k] = v;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function isoTime(ts) {
  return ts === null || ts === undefined ? "" : new Date(ts * 1000).toISOString().replace(".000Z", "Z");
}

function scoreCell(score) {
  if (score === null || score === undefined) return el("td", { class: "score" }, "-");
  const cls = score > 2 ? "score critical" : score > 1 ? "score warning" : "score";
  return el("td", { class: cls }, score.toFixed(2));
}

function stale(generation) {
  return generation !== live.generation;
}

// axis labels that fit: compact for large numbers, exponents for tiny ones
function axisValues(u, splits) {
  return splits.map((v) => {
    const a = Math.abs(v);
    if (v === 0 || (a >= 1e-2 && a < 1e5)) return +v.toPrecision(6) + "";
    return v.toExponential(2);
  });
}

const UTC = (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");

function destroyPlots(group = "main") {
  const list = live.groups[group];
  list.forEach((p) => p.destroy());
  list.length = 0;
}

// ------------------------------------------------------------------ charts
function clipToPlot(u) {
  const { ctx, bbox } = u;
  ctx.beginPath();
  ctx.rect(bbox.left, bbox.top, bbox.width, bbox.height);
  ctx.clip();
}

function shadeAlerts(u, alerts) {
  const { ctx, bbox } = u;
  ctx.save();
  clipToPlot(u);
  for (const run of alerts) {
    const x0 = u.valToPos(run.start, "x", true);
    const x1 = u.valToPos(run.end, "x", true);
    ctx.fillStyle = COLORS[run.severity];
    ctx.fillRect(x0 - 1, bbox.top, Math.max(x1 - x0, 0) + 2, bbox.height);
  }
  ctx.restore();
}

function drawLines(u) {
  const { ctx, bbox } = u;
  ctx.save();
  ctx.setLineDash([6, 4]);
  for (const [level, color] of [[1, COLORS.line], [2, COLORS.criticalLine]]) {
    const y = u.valToPos(level, "y", true);
    if (y < bbox.top || y > bbox.top + bbox.height) continue;
    ctx.strokeStyle = color;
    ctx.beginPath();
    ctx.moveTo(bbox.left, y);
    ctx.lineTo(bbox.left + bbox.width, y);
    ctx.stroke();
  }
  ctx.restore();
}

// one chart of a stack sharing its x axis (time for a live series, rows for an evaluated one):
// cursors synced, drag to zoom, the score charts' y axis from 0 and showing both lines
function stackOptions({ width, height, series, hooks, time, sync, onZoom, score }) {
  const scales = { x: { time } };
  if (score) scales.y = { range: (u, lo, hi) => [0, Math.max(hi || 0, 2.5)] };
  return { width, height, series: [time ? {} : { label: "row" }, ...series], tzDate: UTC, scales,
    cursor: { sync: { key: sync }, drag: { x: true, y: false, setScale: false } },
    hooks: { setSelect: [(u) => zoomFrom(u, onZoom)], ...hooks }, legend: { live: true },
    axes: [{}, { size: 70, values: axisValues }] };
}

function valueSeries(values) {
  return values.map((_, c) => ({ label: values.length > 1 ? `value[${c}]` : "value",
    stroke: CHANNEL_COLORS[c % CHANNEL_COLORS.length], width: 1 }));
}

function chartPair(container, chart, width, onZoom) {
  window.anomalyd.alerts = chart.alerts;
  const stack = { width, time: true, sync: "anomalyd", onZoom };
  const top = new uPlot(
    stackOptions({ ...stack, height: 260, series: valueSeries(chart.values),
      hooks: { drawClear: [(u) => shadeAlerts(u, chart.alerts)] } }),
    [chart.timestamps, ...chart.values], container.appendChild(el("div", { class: "chart values" })),
  );
  const bottom = new uPlot(
    stackOptions({ ...stack, height: 180, score: true, hooks: { draw: [drawLines] },
      series: [{ label: "anomaly_score", stroke: COLORS.score, width: 1 }] }),
    [chart.timestamps, chart.anomaly_score], container.appendChild(el("div", { class: "chart scores" })),
  );
  return [top, bottom];
}

function zoomFrom(u, onZoom) {
  if (!onZoom || u.select.width < 2) return;
  const lo = u.posToVal(u.select.left, "x");
  const hi = u.posToVal(u.select.left + u.select.width, "x");
  u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
  onZoom(lo, hi);
}

function resolutionLine(chart) {
  const text = chart.downsampled
    ? `${chart.timestamps.length.toLocaleString()} of ${chart.total.toLocaleString()} points drawn (thinned with MinMaxLTTB)`
    : `${chart.total.toLocaleString()} points`;
  return el("p", { class: "resolution", dataTotal: chart.total, dataShown: chart.timestamps.length },
    `${text}; ${chart.alerts.length} alert run(s) in range.`);
}

// ------------------------------------------------------------------ series view
async function seriesView(params) {
  const list = await getJSON("series");
  const ids = list.series.map((s) => s.id);
  if (!ids.length) {
    view.append(el("p", { class: "empty" }, "No series yet: write points (REST or remote-write)."));
    return;
  }
  const id = ids.includes(params.get("id")) ? params.get("id") : ids[0];
  params.set("id", id);
  const picker = el("select", { id: "series-picker" },
    ...ids.map((s) => el("option", { value: s, selected: s === id }, s)));
  picker.onchange = () => { setHash("series", new URLSearchParams({ id: picker.value })); render(); };
  const all = el("button", { id: "zoom-out", type: "button" }, "Whole series");
  all.onclick = () => { params.delete("start"); params.delete("end"); setHash("series", params); render(); };
  view.append(el("div", { class: "controls" }, el("label", {}, "Series ", picker), all,
    el("span", { class: "hint" }, "drag across a chart to zoom; the server sends more detail")));
  const box = view.appendChild(el("div", { id: "series-charts" }));
  await drawSeries(box, id, params);
}

// a box's latest request wins: an earlier zoom's answer arriving late draws nothing
function latest(box) {
  const ticket = String(Number(box.dataset.request || 0) + 1);
  box.dataset.request = ticket;
  return () => box.dataset.request !== ticket;
}

async function drawSeries(box, id, params) {
  const generation = live.generation;
  const superseded = latest(box);
  const width = Math.max(box.clientWidth || view.clientWidth - 20, 400);
  const chart = await getJSON(`series/${encodeURIComponent(id)}/chart`, {
    start: params.get("start"), end: params.get("end"), points: Math.min(2 * width, 20000),
  });
  if (stale(generation) || superseded()) return;
  destroyPlots();
  box.replaceChildren(resolutionLine(chart));
  if (!chart.total) {
    box.append(el("p", { class: "empty" }, "No points in this range."));
    return;
  }
  const onZoom = (lo, hi) => {
    params.set("start", lo.toFixed(3));
    params.set("end", hi.toFixed(3));
    setHash("series", params);
    drawSeries(box, id, params).catch(showError);
  };
  live.groups.main.push(...chartPair(box, chart, width, onZoom));
}

// ------------------------------------------------------------------ live view
async function liveView(params) {
  const table = el("table", { id: "live-table" });
  const charts = el("div", { id: "live-charts" });
  view.append(el("h2", {}, "Series"), table, charts);
  const poll = Math.max(Number(params.get("poll")) || 2000, 250);
  const generation = live.generation;
  const tick = async () => {
    try {
      await refreshLive(table, charts, parseHash().params, generation);
    } catch (err) {
      if (!stale(generation)) showError(err);
    }
    if (!stale(generation)) live.timer = setTimeout(tick, poll);
  };
  await tick();
}

const LIVE_ALERT_ROWS = 50;

async function refreshLive(table, charts, params, generation) {
  const list = await getJSON("series");
  const series = list.series;
  const selected = series.find((s) => s.id === params.get("id")) || series[0];
  const alerts = await Promise.all(series.slice(0, LIVE_ALERT_ROWS).map(lastHourAlerts));
  if (stale(generation)) return;
  table.replaceChildren(
    el("tr", {}, ...["series", "status", "points", "scored", "last point (UTC)", "last anomaly_score",
      "alerts in the hour to it"].map((h) => el("th", {}, h))),
    ...series.map((s, i) => liveRow(s, alerts[i], selected)),
  );
  if (series.length > LIVE_ALERT_ROWS) {
    table.append(el("tr", {}, el("td", { colSpan: 7, class: "note" },
      `alerts counted for the first ${LIVE_ALERT_ROWS} of ${series.length} series; open a series for its alerts`)));
  }
  if (!series.length) {
    charts.replaceChildren(el("p", { class: "empty" }, "No series yet: write points (REST or remote-write)."));
    return;
  }
  await drawRecent(charts, selected, generation);
}

async function lastHourAlerts(s) {
  if (s.last_timestamp === null) return [];
  const body = await getJSON(`series/${encodeURIComponent(s.id)}/alerts`,
    { start: s.last_timestamp - HOUR, end: s.last_timestamp });
  return body.alerts;
}

function liveRow(s, alerts, selected) {
  const link = el("a", { href: `#/series?id=${encodeURIComponent(s.id)}` }, s.id);
  const worst = !alerts ? "" : alerts.some((a) => a.severity === "critical") ? "critical" : alerts.length ? "warning" : "";
  const row = el("tr", { class: s === selected ? "selected" : "", dataSeries: s.id },
    el("td", {}, link), el("td", { class: "status" }, s.status), el("td", {}, String(s.points)),
    el("td", {}, String(s.scored)), el("td", { class: "last-ts" }, isoTime(s.last_timestamp)),
    scoreCell(s.last_anomaly_score), el("td", { class: `alerts ${worst}` }, alerts ? String(alerts.length) : "-"));
  row.onclick = (event) => {
    if (event.target.tagName === "A") return;
    const params = parseHash().params;
    params.set("id", s.id);
    setHash("live", params);
    render();
  };
  return row;
}

async function drawRecent(charts, s, generation) {
  const width = Math.max(charts.clientWidth || view.clientWidth - 20, 400);
  const chart = await getJSON(`series/${encodeURIComponent(s.id)}/chart`, {
    start: s.last_timestamp === null ? null : s.last_timestamp - DAY, points: Math.min(2 * width, 20000),
  });
  if (stale(generation)) return;
  destroyPlots();
  charts.replaceChildren(el("h3", {}, `${s.id}: the day to its last point`), resolutionLine(chart));
  if (chart.total) live.groups.main.push(...chartPair(charts, chart, width, null));
}

// ------------------------------------------------------------------ leaderboard
const METRIC_NAMES = { vus_pr: "VUS-PR", pate: "PATE", false_alarm_rate: "false alarms",
  event_recall: "event recall", alerts_per_1000: "alerts / 1k normal", fit_seconds: "fit s" };
const LOWER_IS_BETTER = new Set(["false_alarm_rate", "alerts_per_1000", "fit_seconds"]);

function formatMetric(metric, v) {
  if (v === null || v === undefined) return "-";
  if (metric === "false_alarm_rate") return (100 * v).toFixed(2) + "%";
  if (metric === "alerts_per_1000" || metric === "fit_seconds") return v.toFixed(2);
  return v.toFixed(3);
}

async function leaderboardView(params) {
  const runs = (await getJSON("evaluations")).evaluations;
  if (!runs.length) {
    view.append(el("p", { class: "empty" }, "No stored evaluation runs: run `anomalyd evaluate " +
      "--suite FOLDER --store DATA_DIR` with this service's data dir."));
    return;
  }
  const id = runs.some((r) => r.id === params.get("run")) ? params.get("run") : runs[0].id;
  params.set("run", id);
  const board = await getJSON(`evaluations/${encodeURIComponent(id)}`);
  const metric = board.metrics.includes(params.get("metric")) ? params.get("metric") : "vus_pr";
  const picker = el("select", { id: "run-picker" }, ...runs.map((r) =>
    el("option", { value: r.id, selected: r.id === id }, `${r.id}: ${r.suite} (${r.series} series${scheduleNote(r.schedule)})`)));
  picker.onchange = () => { setHash("leaderboard", new URLSearchParams({ run: picker.value })); render(); };
  const metricPicker = el("select", { id: "metric-picker" }, ...board.metrics.map((m) =>
    el("option", { value: m, selected: m === metric }, METRIC_NAMES[m] || m)));
  metricPicker.onchange = () => { params.set("metric", metricPicker.value); setHash("leaderboard", params); render(); };
  view.append(el("div", { class: "controls" }, el("label", {}, "Run ", picker),
    el("label", {}, "By source: ", metricPicker),
    el("span", { class: "hint" }, `suite ${board.suite}${board.schedule?.kind === "service" && board.rows.some((r) => r.reference) ? "; ours refitted as the service does, TSB-AD's not" : ""}; click a header to sort, a cell for its series`)));
  const detector = params.get("detector");
  const row = board.rows.find((r) => r.detector === detector && !r.reference);
  view.append(row ? seriesTable(board, row, params) : boardTable(board, metric, params));
}

function columnsOf(board, metric) {
  return [...board.metrics.map((m) => ({ metric: m, group: "all", label: METRIC_NAMES[m] || m })),
    ...board.sources.map((s) => ({ metric, group: s, label: `${METRIC_NAMES[metric] || metric} ${s}` }))];
}

function best(rows, col) {
  const values = rows.map((r) => r.cells[col.metric]?.[col.group]).filter((v) => v !== null && v !== undefined);
  if (!values.length) return null;
  return LOWER_IS_BETTER.has(col.metric) ? Math.min(...values) : Math.max(...values);
}

function sortRows(rows, key, value) {
  if (!key) return rows;
  const lower = LOWER_IS_BETTER.has(key.split(":")[0]);
  return [...rows].sort((a, b) => {
    const va = value(a, key), vb = value(b, key);
    const na = va === null || va === undefined, nb = vb === null || vb === undefined;
    if (na || nb) return na === nb ? 0 : na ? 1 : -1;
    return lower ? va - vb : vb - va;
  });
}

function sortHeader(label, key, params) {
  const th = el("th", { class: params.get("sort") === key ? "sorted" : "" }, label);
  th.onclick = () => { params.set("sort", key); setHash("leaderboard", params); render(); };
  return th;
}

function boardTable(board, metric, params) {
  const cols = columnsOf(board, metric);
  const cellOf = (r, key) => { const [m, g] = key.split(":"); return r.cells[m]?.[g]; };
  const rows = sortRows(board.rows, params.get("sort"), cellOf);
  // best in bold among the rows measured on the most series (a mean over fewer is not comparable)
  const most = Math.max(...board.rows.map((r) => r.n));
  const bests = cols.map((c) => best(board.rows.filter((r) => r.n === most), c));
  const head = el("tr", {}, el("th", {}, "detector"), el("th", {}, "n"),
    ...cols.map((c) => sortHeader(c.label, `${c.metric}:${c.group}`, params)));
  const body = rows.map((r) => el("tr", { class: r.reference ? "reference" : "", dataDetector: r.detector },
    el("td", {}, r.detector), el("td", {}, String(r.n)),
    ...cols.map((c, i) => boardCell(r, c, r.n === most ? bests[i] : undefined, params))));
  return el("table", { id: "leaderboard" }, head, ...body);
}

function boardCell(r, col, bestValue, params) {
  const v = r.cells[col.metric]?.[col.group];
  const td = el("td", { class: v !== null && v !== undefined && v === bestValue ? "best" : "" },
    formatMetric(col.metric, v));
  if (!r.reference) {
    td.classList.add("link");
    td.onclick = () => {
      params.set("detector", r.detector);
      if (col.group !== "all") params.set("source", col.group); else params.delete("source");
      setHash("leaderboard", params);
      render();
    };
  }
  return td;
}

function seriesTable(board, row, params) {
  const source = params.get("source");
  const names = Object.keys(row.series).filter((s) => !source || board.series_sources[s] === source);
  const value = (name, key) => row.series[name][key.split(":")[0]];
  const sorted = sortRows(names, params.get("sort"), value);
  const back = el("a", { href: "#", id: "back" }, "all detectors");
  back.onclick = (event) => {
    event.preventDefault();
    params.delete("detector"); params.delete("source"); setHash("leaderboard", params); render();
  };
  const head = el("tr", {}, el("th", {}, "series"), el("th", {}, "source"),
    ...board.metrics.map((m) => sortHeader(METRIC_NAMES[m] || m, `${m}:all`, params)));
  const link = (name) => el("a", { href: `#/evaluated?run=${encodeURIComponent(board.id)}&series=${encodeURIComponent(name)}&detector=${encodeURIComponent(row.detector)}` }, name);
  const body = sorted.map((name) => el("tr", { dataSeries: name }, el("td", {}, link(name)),
    el("td", {}, board.series_sources[name] || ""),
    ...board.metrics.map((m) => el("td", {}, formatMetric(m, row.series[name][m])))));
  const failed = Object.entries(row.errors)
    .filter(([name]) => !source || board.series_sources[name] === source)
    .map(([name, why]) => el("tr", { class: "failed", dataSeries: name }, el("td", {}, name),
      el("td", {}, board.series_sources[name] || ""),
      el("td", { colSpan: board.metrics.length, class: "note" }, `could not score: ${why}`)));
  return el("div", { id: "per-series" },
    el("p", {}, `${row.detector}${source ? " on " + source : ""}: ${names.length} series (`, back, ")"),
    el("table", {}, head, ...body, ...failed));
}

// ------------------------------------------------------------------ evaluated series + curves
const CURVE_COLORS = ["#2563eb", "#dc2626", "#059669", "#7c3aed"];

async function evaluatedView(params) {
  const run = params.get("run");
  const series = params.get("series");
  if (!run || !series) {
    view.append(el("p", { class: "empty" }, "Open a series from a run's per-series table in the Leaderboard."));
    return;
  }
  const board = await getJSON(`evaluations/${encodeURIComponent(run)}`);
  const names = board.rows.filter((r) => !r.reference).map((r) => r.detector);
  const detector = names.includes(params.get("detector")) ? params.get("detector") : names[0];
  const compare = names.includes(params.get("compare")) && params.get("compare") !== detector
    ? params.get("compare") : null;
  const pick = (id, value, options, key) => {
    const select = el("select", { id }, ...options.map((o) => el("option", { value: o, selected: o === value }, o || "none")));
    select.onchange = () => { select.value ? params.set(key, select.value) : params.delete(key); setHash("evaluated", params); render(); };
    return select;
  };
  const back = el("a", { href: `#/leaderboard?run=${encodeURIComponent(run)}&detector=${encodeURIComponent(detector)}` }, "back to the run");
  view.append(el("div", { class: "controls" }, el("strong", { class: "name" }, series), back,
    el("label", {}, "Detector ", pick("detector-picker", detector, names, "detector")),
    el("label", {}, "Beside it ", pick("compare-picker", compare || "", ["", ...names.filter((n) => n !== detector)], "compare")),
    el("span", { class: "hint" }, "shaded grey: labelled anomalies; dotted: end of training; drag to zoom")));
  const shown = compare ? [detector, compare] : [detector];
  const box = view.appendChild(el("div", { id: "evaluated-charts" }));
  const curvesBox = view.appendChild(el("div", { id: "curves", class: "curves" }));
  await Promise.all([drawEvaluated(box, run, series, shown, params), drawCurves(curvesBox, run, series, shown)]);
}

function scheduleNote(schedule) {
  if (!schedule || schedule.kind !== "service") return "";
  const span = schedule.train_points == null ? "" : `: span ${schedule.train_points} points`;
  const every = schedule.refit_every == null ? "" : schedule.refit_every === 0
    ? ", no refits once full" : `, refit every ${schedule.refit_every}`;
  return `, service schedule${span}${every}`;
}

function detectorQuery(detectors) {
  return detectors.map((d) => `detector=${encodeURIComponent(d)}`).join("&");
}

async function drawEvaluated(box, run, series, detectors, params) {
  const generation = live.generation;
  const superseded = latest(box);
  const width = Math.max(box.clientWidth || view.clientWidth - 20, 400);
  const query = new URLSearchParams({ points: Math.min(2 * width, 20000) });
  for (const k of ["start", "end"]) if (params.get(k)) query.set(k, params.get(k));
  const body = await getJSON(`evaluations/${encodeURIComponent(run)}/series/${encodeURIComponent(series)}?${detectorQuery(detectors)}&${query}`);
  if (stale(generation) || superseded()) return;
  destroyPlots("main");
  const shownText = body.x.length < body.total ? `${body.x.length.toLocaleString()} of ${body.total.toLocaleString()} rows drawn (thinned with MinMaxLTTB)` : `${body.total.toLocaleString()} rows`;
  box.replaceChildren(el("p", { class: "resolution", dataTotal: body.total, dataShown: body.x.length },
    `${shownText}; measured from row ${body.train_end}; ${body.label_spans.length} labelled anomaly span(s) in range.`));
  for (const [d, why] of Object.entries(body.errors)) {
    box.append(el("p", { class: "failed", dataDetector: d }, `${d} could not score this series: ${why}`));
  }
  if (!body.total) {
    box.append(el("p", { class: "empty" }, "No rows in this range."));
    return;
  }
  const onZoom = (lo, hi) => {
    params.set("start", Math.max(0, Math.floor(lo)));
    params.set("end", Math.max(0, Math.ceil(hi)));
    setHash("evaluated", params);
    drawEvaluated(box, run, series, detectors, params).catch(showError);
  };
  window.anomalyd.labelSpans = body.label_spans;
  const shade = (u) => shadeSpans(u, body.label_spans, body.train_end);
  const stack = { width, time: false, sync: "anomalyd-evaluated", onZoom };
  live.groups.main.push(new uPlot(
    stackOptions({ ...stack, height: 240, series: valueSeries(body.values), hooks: { drawClear: [shade] } }),
    [body.x, ...body.values], box.appendChild(el("div", { class: "chart values" }))));
  detectors.filter((d) => d in body.scores).forEach((d) => {
    const opts = stackOptions({ ...stack, height: 150, score: true,
      series: [{ label: `${d} anomaly_score`, stroke: CURVE_COLORS[detectors.indexOf(d)], width: 1 }],
      hooks: { drawClear: [shade, (u) => shadeAlerts(u, body.alerts[d])], draw: [drawLines] } });
    live.groups.main.push(new uPlot(opts, [body.x, body.scores[d]], box.appendChild(el("div", { class: "chart scores", dataDetector: d }))));
  });
}

function shadeSpans(u, spans, trainEnd) {
  const { ctx, bbox } = u;
  ctx.save();
  clipToPlot(u);
  ctx.fillStyle = "rgba(100,116,139,0.25)";
  for (const [a, b] of spans) {
    const x0 = u.valToPos(a, "x", true);
    const x1 = u.valToPos(b, "x", true);
    ctx.fillRect(x0 - 1, bbox.top, Math.max(x1 - x0, 0) + 2, bbox.height);
  }
  const xt = u.valToPos(trainEnd, "x", true);
  if (xt >= bbox.left && xt <= bbox.left + bbox.width) {
    ctx.strokeStyle = "#64748b";
    ctx.setLineDash([2, 3]);
    ctx.beginPath(); ctx.moveTo(xt, bbox.top); ctx.lineTo(xt, bbox.top + bbox.height); ctx.stroke();
  }
  ctx.restore();
}

async function drawCurves(box, run, series, detectors) {
  const generation = live.generation;
  const body = await getJSON(`evaluations/${encodeURIComponent(run)}/series/${encodeURIComponent(series)}/curves?${detectorQuery(detectors)}`);
  if (stale(generation)) return;
  destroyPlots("curves");
  box.replaceChildren(...detectors.map((d, i) => d in body.curves
    ? curvePanel(d, body.curves[d], CURVE_COLORS[i])
    : el("div", { class: "curve-panel failed", dataDetector: d }, el("h3", {}, d),
      el("p", {}, `no curves: ${body.errors[d]}`))));
}

function curvePanel(detector, c, color) {
  const panel = el("div", { class: "curve-panel", dataDetector: detector });
  panel.append(el("h3", {}, detector),
    el("p", { class: "curve-figures" }, `AUC-PR ${c.auc_pr.toFixed(3)} (area under the point-wise curve); ` +
      `VUS-PR ${c.vus_pr.toFixed(3)} = mean area of the range-based curves of buffers 0..${c.window}`));
  const opts = (title, series) => ({ title, width: 420, height: 300, mode: 2, series: [{}, ...series],
    scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1.02] } },
    axes: [{ label: "recall" }, { label: "precision" }], legend: { show: false } });
  // the server sends step vertices: straight lines between them draw the steps whose area is the figure
  const line = (stroke, alpha) => ({ stroke, width: 1.5, alpha, paths: uPlot.paths.linear(), points: { show: false } });
  const add = (plot) => { live.groups.curves.push(plot); return plot; };
  add(new uPlot(opts("point-wise PR curve (AUC-PR)", [line(color, 1)]), [null, [c.recall, c.precision]],
    panel.appendChild(el("div", { class: "chart pr" }))));
  const slices = c.buffers.map((w, k) => line(color, 0.25 + 0.75 * (k / Math.max(c.buffers.length - 1, 1))));
  add(new uPlot(opts(`range-based PR curves, buffers ${c.buffers.join(", ")} (VUS-PR)`, slices),
    [null, ...c.buffers.map((_, k) => [c.vus_recall[k], c.vus_precision[k]])],
    panel.appendChild(el("div", { class: "chart vus" }))));
  const ap = c.buffer_ap;
  add(new uPlot({ title: "area per buffer (their mean is VUS-PR)", width: 420, height: 160,
    series: [{ label: "buffer" }, { label: "area", stroke: color, width: 1.5 }],
    scales: { x: { time: false }, y: { range: [0, 1] } }, legend: { show: false } },
  [ap.map((_, w) => w), ap], panel.appendChild(el("div", { class: "chart buffer-ap" }))));
  return panel;
}

// ------------------------------------------------------------------ routing
const VIEWS = { live: liveView, series: seriesView, leaderboard: leaderboardView, evaluated: evaluatedView };

async function render() {
  clearTimeout(live.timer);
  live.generation += 1;
  const generation = live.generation;
  delete document.body.dataset.ready;
  destroyPlots("main");
  destroyPlots("curves");
  errorBox.hidden = true;
  view.replaceChildren();
  const { name, params } = parseHash();
  const show = VIEWS[name] || liveView;
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === name));
  document.body.dataset.view = VIEWS[name] ? name : "live";
  try {
    await show(params);
  } catch (err) {
    if (!stale(generation)) showError(err);
  } finally {
    if (!stale(generation)) document.body.dataset.ready = "true";
  }
}

window.addEventListener("hashchange", render);
render();
