// crmerp monitoring console: plain JavaScript over the ops API, no build step.
"use strict";
const $ = (sel) => document.querySelector(sel);
const state = { token: sessionStorage.getItem("crmerp-token") || "", role: "", cursor: null };
const COLORS = ["#2563eb", "#e67e22", "#16a085", "#8e44ad", "#c0392b", "#7f8c8d"];

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json", ...(options.headers || {}) },
  });
  const text = await response.text();
  let body = text;
  try { body = JSON.parse(text); } catch (_) { /* CSV or empty */ }
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : `${response.status}`;
    if (response.status === 401) { logout(); }
    throw new Error(detail);
  }
  return body;
}

function logout() {
  sessionStorage.removeItem("crmerp-token");
  $("#alerting-banner").hidden = true;
  state.token = "";
  $("#nav").hidden = true;
  document.querySelectorAll(".tab").forEach((t) => (t.hidden = true));
  $("#login").hidden = false;
  $("#who").textContent = "";
}

async function login(token) {
  state.token = token;
  try {
    const me = await api("/api/v1/me");
    state.role = me.role;
    sessionStorage.setItem("crmerp-token", token);
    $("#who").textContent = `${me.name} (${me.role})`;
    $("#login").hidden = true;
    $("#nav").hidden = false;
    document.querySelectorAll(".operator-only").forEach((e) => (e.hidden = me.role === "viewer"));
    checkAlerting();
    show("health");
  } catch (error) {
    $("#login-error").textContent = `Sign-in failed: ${error.message}`;
  }
}

// "Alerting is off" (no channel configured) must not go unnoticed: /readyz
// says so (it needs no token, and answers its body with a 503 too).
async function checkAlerting() {
  const banner = $("#alerting-banner");
  try {
    const ready = await (await fetch("/readyz")).json();
    const off = ready.alerting === "off";
    banner.hidden = !off;
    banner.textContent = off ? `Alerting is off: ${ready.alerting_reason || "no alert channel is configured"}. Nobody is notified of dead letters, outages or lag.` : "";
  } catch (_) {
    banner.hidden = true;
  }
}

function show(tab) {
  document.querySelectorAll(".tab").forEach((t) => (t.hidden = t.id !== tab));
  document.querySelectorAll("#nav button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  ({ health: loadHealth, events: () => searchEvents(false), "dead-letters": () => loadDeadLetters(false), incidents: loadIncidents, sla: loadSla })[tab]();
}

function pct(value) { return value == null ? "–" : `${(value * 100).toFixed(1)} %`; }
function num(value, digits = 0) { return value == null ? "–" : Number(value).toFixed(digits); }
function time(value) { return value ? new Date(value).toLocaleString() : ""; }

// A small SVG line chart: series is [{name, points: [[x(ms), y]]}].
function chart(target, series, { percent = false } = {}) {
  const w = 520, h = 180, pad = 34;
  const all = series.flatMap((s) => s.points);
  if (!all.length) { $(target).innerHTML = "<p>No data yet.</p>"; return; }
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || x0 + 1;
  const y1 = percent ? 1 : Math.max(1, ...ys);
  const sx = (x) => pad + ((x - x0) / Math.max(1, x1 - x0)) * (w - pad - 8);
  const sy = (y) => h - 20 - (y / y1) * (h - 36);
  let svg = `<svg viewBox="0 0 ${w} ${h}" width="100%" role="img">`;
  for (const f of [0, 0.5, 1]) {
    const y = sy(f * y1);
    svg += `<line x1="${pad}" x2="${w - 8}" y1="${y}" y2="${y}" stroke="#dde3ea"/><text x="2" y="${y + 4}" font-size="10" fill="#66727f">${percent ? `${f * 100}%` : num(f * y1, f * y1 < 10 ? 1 : 0)}</text>`;
  }
  svg += `<text x="${pad}" y="${h - 4}" font-size="10" fill="#66727f">${esc(new Date(x0).toLocaleString())}</text><text x="${w - 8}" y="${h - 4}" font-size="10" fill="#66727f" text-anchor="end">${esc(new Date(x1).toLocaleString())}</text>`;
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => p[1] != null).map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    svg += `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${pts}"/>`;
    for (const p of s.points.filter((p) => p[1] != null && (percent || p[1] > 0))) {
      svg += `<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="3" fill="${COLORS[i % COLORS.length]}"><title>${esc(new Date(p[0]).toLocaleString())}: ${percent ? pct(p[1]) : num(p[1], 1)}</title></circle>`;
    }
  });
  svg += "</svg>";
  const legend = series.map((s, i) => `<span style="color:${COLORS[i % COLORS.length]}">■ ${esc(s.name)}</span>`).join("");
  $(target).innerHTML = svg + `<div class="legend">${legend}</div>`;
}

async function loadHealth() {
  const hours = $("#health-hours").value;
  const [health, series] = await Promise.all([api(`/api/v1/health?hours=${hours}`), api(`/api/v1/health/series?hours=${Math.min(hours, 168)}`)]);
  $("#flow-cards").innerHTML = health.flows.map((f) => `
    <div class="card"><h3>${esc(f.flow)}</h3><dl>
      <dt>Events / hour</dt><dd>${num(f.events_per_hour, 2)}</dd>
      <dt>Success rate</dt><dd>${pct(f.success_rate)}</dd>
      <dt>Open dead letters</dt><dd>${num(f.open_dead_letters)}</dd>
      <dt>DLQ stream messages</dt><dd>${num(f.dlq_stream_messages)}</dd>
      <dt>Latency avg / p95</dt><dd>${num(f.avg_latency_ms)} / ${num(f.p95_latency_ms)} ms</dd>
      <dt>Consumer lag</dt><dd>${num(f.consumer_pending)} pending, ${num(f.consumer_ack_pending)} in flight</dd>
    </dl></div>`).join("") || "<p>No flow activity in this window.</p>";
  const flows = [...new Set(series.items.map((b) => b.flow))];
  const pick = (fn) => flows.map((flow) => ({ name: flow, points: series.items.filter((b) => b.flow === flow).map((b) => [Date.parse(b.hour), fn(b)]) }));
  chart("#chart-events", pick((b) => b.events));
  chart("#chart-success", pick((b) => (b.events ? b.successes / b.events : null)), { percent: true });
  chart("#chart-latency", pick((b) => b.avg_latency_ms));
  chart("#chart-dlq", pick((b) => b.dlq_depth));
  const breakers = await api("/api/v1/breakers");
  $("#breakers tbody").innerHTML = breakers.items.map((b) => `<tr><td>${esc(b.flow)}</td><td>${esc(b.system)}</td>
    <td class="${b.state === "open" ? "status-open" : "status-resolved"}">${b.state === "open" ? "open (flow paused)" : "closed"}</td>
    <td>${time(b.since)}</td><td>${esc(b.reason)}</td></tr>`).join("") || `<tr><td colspan="5">No breaker has opened.</td></tr>`;
  $("#endpoints tbody").innerHTML = health.endpoints.slice(-50).map((e) => `<tr><td>${esc(e.system)}</td><td>${esc(e.endpoint)}</td><td>${time(e.hour)}</td><td>${e.calls}</td><td>${num(e.avg_ms)}</td><td>${num(e.p95_ms)}</td><td>${e.errors}</td></tr>`).join("");
}

function eventQuery() {
  const params = new URLSearchParams();
  for (const [key, value] of new FormData($("#event-search"))) {
    if (!value) continue;
    params.set(key, key === "from" || key === "to" ? new Date(value).toISOString() : value);
  }
  return params;
}

async function searchEvents(more) {
  const params = eventQuery();
  params.set("limit", "50");
  if (more && state.cursor) params.set("cursor", state.cursor);
  const page = await api(`/api/v1/events?${params}`);
  const rows = page.items.map((e) => `<tr class="clickable" data-record="${esc(e.crm_record_id)}">
    <td>${time(e.occurred_at)}</td><td>${esc(e.flow)}</td><td>${esc(e.event_type)}</td><td>${esc(e.outcome)}</td>
    <td>${esc(e.crm_record_id)}</td><td>${esc(e.erp_order_number)}</td><td>${esc(e.endpoint)} ${e.http_status || ""}</td>
    <td>${e.duration_ms}</td><td>${e.attempt || ""}</td><td>${esc(e.actor)}</td></tr>`).join("");
  const body = $("#event-table tbody");
  body.innerHTML = more ? body.innerHTML + rows : rows;
  state.cursor = page.next_cursor;
  $("#more-events").hidden = !page.next_cursor;
}

async function showTimeline(record) {
  if (!record) return;
  const timeline = await api(`/api/v1/timeline?crm_record_id=${encodeURIComponent(record)}`);
  $("#timeline-title").textContent = record;
  // "received": accepted, waiting for its first outcome (behind a breaker or a retry delay).
  $("#timeline-state").textContent = timeline.state === "received" ? "(received: waiting for its first outcome)" : timeline.state ? `(${timeline.state})` : "";
  $("#timeline-state").className = `state state-${timeline.state || "none"}`;
  $("#timeline-items").innerHTML = timeline.items.map((e) => `<li><b>${time(e.occurred_at)}</b> ${esc(e.event_type)} — <b>${esc(e.outcome)}</b>
    ${e.erp_order_number ? `order ${esc(e.erp_order_number)}` : ""} ${e.error_message ? `: ${esc(e.error_message)}` : ""} ${e.actor ? `by ${esc(e.actor)}` : ""}</li>`).join("");
  // Requeue chains: each dead letter names the one it came from and the one it became.
  $("#timeline-items").innerHTML += (timeline.dead_letters || []).map((d) => `<li class="chain">dead letter ${esc(d.id)} — <b>${esc(d.status)}</b>
    ${d.previous_dead_letter_id ? `from ${esc(d.previous_dead_letter_id)}` : ""} ${d.next_dead_letter_id ? `→ became ${esc(d.next_dead_letter_id)}` : ""}</li>`).join("");
  $("#timeline").hidden = false;
}

// The dead-letter filters as the API names them (the list's and the bulk action's).
function deadLetterFilter() {
  const filter = {};
  for (const [key, sel] of [["flow", "#dl-flow"], ["category", "#dl-category"], ["crm_record_id", "#dl-record"], ["resolution_code", "#dl-resolution-code"]]) {
    const value = $(sel).value.trim();
    if (value) filter[key] = value;
  }
  return filter;
}

async function loadDeadLetters(more) {
  const params = new URLSearchParams(deadLetterFilter());
  if ($("#dl-status").value) params.set("status", $("#dl-status").value);
  if (more === true && state.dlCursor) params.set("cursor", state.dlCursor);
  const list = await api(`/api/v1/dead-letters?${params}`);
  const rows = list.items.map((d) => `<tr class="clickable" data-id="${esc(d.id)}" data-record="${esc(d.crm_record_id)}">
    <td>${time(d.dead_lettered_at)}</td><td>${esc(d.flow)}</td><td>${esc(d.class)}</td><td>${esc(d.error_category)}</td>
    <td>${esc(d.crm_record_id)}</td><td>${esc(d.reason)}</td><td class="status-${esc(d.status)}">${esc(d.status)}</td></tr>`).join("");
  const body = $("#dl-table tbody");
  if (more === true) body.innerHTML += rows;
  else body.innerHTML = rows || `<tr><td colspan="7">No dead letters.</td></tr>`;
  state.dlCursor = list.next_cursor;
  $("#more-dead-letters").hidden = !list.next_cursor;
}

// Bulk: a dry run names the set and a token; Apply sends that token back and
// is refused if the set changed meanwhile.
async function bulkDryRun() {
  const action = $("#bulk-action").value;
  const filter = deadLetterFilter();
  const message = $("#bulk-message");
  try {
    const plan = await api("/api/v1/dead-letters/bulk/dry-run", { method: "POST", body: JSON.stringify({ action, filter }) });
    state.bulk = { action, filter, token: plan.token };
    message.className = "";
    message.textContent = `${plan.count} open dead letter(s) would be ${action === "requeue" ? "requeued" : "discarded"}: ${plan.ids.join(", ")}`;
    $("#bulk-apply").disabled = plan.count === 0;
  } catch (error) {
    state.bulk = null;
    $("#bulk-apply").disabled = true;
    message.className = "error";
    message.textContent = error.message;
  }
}

async function bulkApply() {
  const plan = state.bulk;
  if (!plan) return;
  const message = $("#bulk-message");
  const body = { ...plan };
  if (plan.action === "discard") body.reason = $("#bulk-reason").value;
  try {
    const result = await api("/api/v1/dead-letters/bulk", { method: "POST", body: JSON.stringify(body) });
    message.className = "ok";
    message.textContent = `${result.count} dead letter(s) ${plan.action === "requeue" ? "requeued" : "discarded"} (bulk ${result.bulk_id}).`;
    loadDeadLetters();
  } catch (error) {
    message.className = "error";
    message.textContent = error.message;
  } finally {
    state.bulk = null;
    $("#bulk-apply").disabled = true;
  }
}

async function showDeadLetter(id) {
  const d = await api(`/api/v1/dead-letters/${encodeURIComponent(id)}`);
  state.deadLetter = d;
  $("#dl-id").textContent = d.id;
  const chain = [d.previous_dead_letter_id && `from ${d.previous_dead_letter_id}`, d.next_dead_letter_id && `became ${d.next_dead_letter_id}`].filter(Boolean);
  $("#dl-state").textContent = chain.length ? `${d.status} (${chain.join(", ")})` : d.status;
  $("#dl-reason").textContent = `${d.error_category}: ${d.reason}`;
  $("#dl-resolution").textContent = d.resolution;
  $("#dl-link").hidden = !d.crm_record_url;
  if (d.crm_record_url) $("#dl-link").href = d.crm_record_url;
  $("#dl-error").textContent = d.error_detail || "(none)";
  $("#deal-json").value = d.deal ? JSON.stringify(d.deal, null, 2) : "";
  $("#deal-error").textContent = d.deal_error || "";
  $("#message").textContent = "";
  $("#dl-detail").hidden = false;
}

async function requeue() {
  const d = state.deadLetter;
  const message = $("#message");
  let body = {};
  const text = $("#deal-json").value.trim();
  if (text && d.deal && text !== JSON.stringify(d.deal, null, 2)) {
    let edited;
    try { edited = JSON.parse(text); } catch (error) { message.className = "error"; message.textContent = `The deal is not valid JSON: ${error.message}`; return; }
    body = { patch: [{ op: "replace", path: "", value: edited }] };
  }
  try {
    const result = await api(`/api/v1/dead-letters/${encodeURIComponent(d.id)}/requeue`, { method: "POST", body: JSON.stringify(body) });
    message.className = "ok";
    message.textContent = `Requeued as ${result.requeued_event_id}.`;
    $("#dl-state").textContent = result.status;
    loadDeadLetters();
  } catch (error) {
    message.className = "error";
    message.textContent = error.message;
  }
}

async function discard() {
  const d = state.deadLetter;
  const message = $("#message");
  try {
    await api(`/api/v1/dead-letters/${encodeURIComponent(d.id)}/discard`, { method: "POST", body: JSON.stringify({ reason: $("#discard-reason").value }) });
    message.className = "ok";
    message.textContent = "Discarded.";
    loadDeadLetters();
  } catch (error) {
    message.className = "error";
    message.textContent = error.message;
  }
}

async function loadIncidents() {
  const status = $("#incident-status").value;
  const list = await api(`/api/v1/incidents${status ? `?status=${encodeURIComponent(status)}` : ""}`);
  const operator = state.role !== "viewer";
  $("#incident-table tbody").innerHTML = list.items.map((i) => `<tr class="severity-${esc(i.severity)}">
    <td>${time(i.opened_at)}</td><td>${esc(i.severity)}</td><td>${esc(i.flow)}</td><td>${esc(i.rule)}</td><td>${esc(i.summary)}</td>
    <td>${esc(i.status)}${i.resolved_at ? ` ${time(i.resolved_at)}` : ""}</td>
    <td>${i.acknowledged_by ? `${esc(i.acknowledged_by)} ${time(i.acknowledged_at)}` : ""}</td>
    <td>${operator && i.status === "open" && !i.acknowledged_by ? `<button class="acknowledge" data-key="${esc(i.key)}">Acknowledge</button>` : ""}</td></tr>`).join("")
    || `<tr><td colspan="8">No incidents.</td></tr>`;
}

async function acknowledge(key) {
  const message = $("#incident-message");
  try {
    await api(`/api/v1/incidents/${encodeURIComponent(key)}/acknowledge`, { method: "POST", body: "{}" });
    message.className = "ok";
    message.textContent = `Acknowledged ${key}.`;
  } catch (error) {
    message.className = "error";
    message.textContent = error.message;
  }
  await loadIncidents();
}

async function loadSla() {
  const week = $("#sla-week").value.trim();
  const report = await api(`/api/v1/reports/sla${week ? `?week=${encodeURIComponent(week)}` : ""}`);
  $("#sla-week").value = report.week;
  $("#sla-flows tbody").innerHTML = report.flows.map((f) => `<tr><td>${esc(f.flow)}</td><td>${f.events}</td><td>${f.successes}</td><td>${f.failures}</td><td>${pct(f.success_rate)}</td></tr>`).join("");
  $("#sla-dlq tbody").innerHTML = report.dead_letters.map((c) => `<tr><td>${esc(c.flow)}</td><td>${esc(c.category)}</td><td>${c.dead_letters}</td></tr>`).join("");
  $("#sla-resolution tbody").innerHTML = report.resolution.map((r) => `<tr><td>${esc(r.flow)}</td><td>${r.resolved}</td><td>${num(r.mean_minutes, 1)}</td><td>${num(r.p95_minutes, 1)}</td></tr>`).join("");
}

async function downloadCsv() {
  const week = $("#sla-week").value.trim();
  const csv = await api(`/api/v1/reports/sla?format=csv${week ? `&week=${encodeURIComponent(week)}` : ""}`);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
  link.download = `sla-${week || "week"}.csv`;
  link.click();
}

// Exports stream from the API; fetched with the token (a plain link cannot
// send it), then saved as a file.
async function download(path, filename) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) {
    let detail = `${response.status}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not a problem document */ }
    throw new Error(detail);
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = filename;
  link.click();
}

function exportEvents(format) {
  const params = eventQuery();
  params.set("format", format);
  return download(`/api/v1/events/export?${params}`, `events.${format}`);
}

function exportDeadLetters(format) {
  const params = new URLSearchParams(deadLetterFilter());
  if ($("#dl-status").value) params.set("status", $("#dl-status").value);
  params.set("format", format);
  return download(`/api/v1/dead-letters/export?${params}`, `dead-letters.${format}`);
}

function guard(fn) {
  return (...args) => fn(...args).catch((error) => { $("#message").textContent = error.message; console.error(error); });
}

$("#login-form").addEventListener("submit", (e) => { e.preventDefault(); login($("#token").value.trim()); });
$("#nav").addEventListener("click", (e) => { if (e.target.dataset.tab) show(e.target.dataset.tab); });
$("#health-hours").addEventListener("change", guard(loadHealth));
$("#event-search").addEventListener("submit", (e) => { e.preventDefault(); guard(searchEvents)(false); });
$("#more-events").addEventListener("click", () => guard(searchEvents)(true));
$("#event-table tbody").addEventListener("click", (e) => { const row = e.target.closest("tr"); if (row) guard(showTimeline)(row.dataset.record); });
$("#dl-refresh").addEventListener("click", () => guard(loadDeadLetters)(false));
$("#more-dead-letters").addEventListener("click", () => guard(loadDeadLetters)(true));
$("#bulk-dry-run").addEventListener("click", guard(bulkDryRun));
$("#bulk-apply").addEventListener("click", guard(bulkApply));
$("#dl-status").addEventListener("change", () => guard(loadDeadLetters)(false));
$("#dl-table tbody").addEventListener("click", (e) => { const row = e.target.closest("tr"); if (row && row.dataset.id) guard(showDeadLetter)(row.dataset.id); });
$("#requeue").addEventListener("click", guard(requeue));
$("#discard").addEventListener("click", guard(discard));
$("#sla-load").addEventListener("click", guard(loadSla));
$("#incident-refresh").addEventListener("click", guard(loadIncidents));
$("#incident-status").addEventListener("change", guard(loadIncidents));
$("#incident-table tbody").addEventListener("click", (e) => { const button = e.target.closest("button.acknowledge"); if (button) guard(acknowledge)(button.dataset.key); });
$("#sla-csv").addEventListener("click", guard(downloadCsv));
$("#events-export-csv").addEventListener("click", () => guard(exportEvents)("csv"));
$("#events-export-json").addEventListener("click", () => guard(exportEvents)("json"));
$("#dl-export-csv").addEventListener("click", () => guard(exportDeadLetters)("csv"));
$("#dl-export-json").addEventListener("click", () => guard(exportDeadLetters)("json"));
if (state.token) login(state.token);
