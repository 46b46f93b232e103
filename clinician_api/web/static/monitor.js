// Group monitor: one tile per patient of the user's cohort, triaged: active finding priority,
// then NEWS2, then staleness. First paint from /api/monitor/snapshot, sparklines from
// /api/monitor/sparklines, live frames from /ws/monitor. Freshness counts from when a value was
// measured, never from when the browser received it.
"use strict";

const SHOWN = [
  ["heart_rate", t("HR")], ["spo2", "SpO₂"], ["pulse_rate", t("Pulse")],
  ["bp_systolic", t("Sys")], ["bp_diastolic", t("Dia")], ["respiratory_rate", t("Resp")],
  ["body_temperature", t("Temp")], ["body_weight", t("Weight")], ["glucose", t("Glucose")],
];
const SPARK = new Set(["heart_rate", "spo2", "bp_systolic", "body_weight"]);
const STALE_MS = 10 * 60 * 1000;       // a tile whose newest value is older is stale
const OLD_VALUE_MS = 60 * 60 * 1000;   // a single value older than this is greyed
const ACTIVE_MS = 15 * 60 * 1000;      // an ended finding still counts this long for triage
const RANK = { high: 3, medium: 2, low: 1 };
const patients = new Map();  // id -> {p, tile, latest: Map(kind -> reading), findings: Map(key -> f), measured: ms}

function tile(p) {
  const card = el("section", { class: "tile", id: `patient-${p.id}`, "data-patient": p.id, "aria-labelledby": `name-${p.id}` });
  const title = el("div", { class: "title" });
  const h2 = el("h2", { id: `name-${p.id}` });
  h2.append(el("a", { href: `/patients/${encodeURIComponent(p.id)}` }, p.display_name));
  if (p.is_test) {
    card.classList.add("test-data");
    h2.append(el("span", { class: "test-badge", title: t("simulated patient (HTEST): not real data") }, t("TEST DATA")));
  }
  title.append(h2, el("span", { class: "news2", hidden: "" }));
  card.append(title);
  card.append(el("div", { class: "sub" }, `${p.id} · ${label(PROGRAMME_LABELS, p.programme)}${p.telemedpoint_id ? " · " + p.telemedpoint_id : ""}`));
  card.append(el("div", { class: "age" }, t("no data yet")));
  const grid = el("div", { class: "vitals" });
  for (const [kind, name] of SHOWN) {
    const v = el("div", { class: "vital", "data-kind": kind });
    const head = el("div", { class: "label" }, name);
    head.append(el("span", { class: "unit" }, ""));
    v.append(head, el("span", { class: "value" }, "–"));
    if (SPARK.has(kind)) v.append(svgSpark());
    grid.append(v);
  }
  card.append(grid, el("div", { class: "device" }), el("ul", { class: "findings", "aria-label": t("Findings") }));
  return card;
}

function svgSpark() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark"); svg.setAttribute("viewBox", "0 0 100 20");
  svg.setAttribute("preserveAspectRatio", "none"); svg.setAttribute("aria-hidden", "true");
  svg.append(document.createElementNS("http://www.w3.org/2000/svg", "polyline"));
  return svg;
}

function drawSpark(box, points) {
  const line = box.querySelector("svg.spark polyline");
  if (!line || points.length < 2) return;
  const now = Date.now() / 1000, t0 = now - 86400;
  const values = points.map((p) => p[1]);
  const lo = Math.min(...values), hi = Math.max(...values), span = hi - lo || 1;
  line.setAttribute("points", points.map(([t, v]) =>
    `${(((t - t0) / 86400) * 100).toFixed(1)},${(18 - ((v - lo) / span) * 16).toFixed(1)}`).join(" "));
}

function format(value, kind) {
  if (value === null || value === undefined) return "?";
  return kind === "body_temperature" || kind === "glucose" || kind === "body_weight" ? number(value, 1) : number(value);
}

function show(reading) {
  // Tiles show what devices measured; derived values (e.g. HR from ECG) go with findings.
  if ((reading.flags || []).includes("derived")) return;
  const entry = patients.get(reading.patient_id);
  if (!entry) return;
  const prev = entry.latest.get(reading.kind);
  if (prev && prev.measured_at > reading.measured_at) return;  // an older replay
  entry.latest.set(reading.kind, reading);
  const first = !entry.measured;
  entry.measured = Math.max(entry.measured, Date.parse(reading.measured_at));
  if (first) entry.tile.querySelector(".age").textContent = ageText(entry);  // not "no data yet" beside a value until the next repaint
  if (reading.kind === "battery_level") { entry.battery = reading; paintDevice(entry); return; }
  entry.device = reading.device_id;
  const box = entry.tile.querySelector(`[data-kind="${reading.kind}"]`);
  if (!box) return;
  box.querySelector(".value").textContent = format(reading.value, reading.kind);
  box.querySelector(".unit").textContent = UNIT_LABELS[reading.unit] ?? reading.unit;
  box.classList.toggle("invalid", (reading.flags || []).includes("invalid"));
  box.dataset.measured = reading.measured_at;
  if (entry.device !== entry.paintedDevice) { entry.paintedDevice = entry.device; paintDevice(entry); }
  dirty();
}

// The measured time shows on hover; formatted then, not for every reading.
document.addEventListener("mouseover", (event) => {
  const box = event.target.closest?.(".vital[data-measured]");
  if (box) box.title = `measured ${localTime(box.dataset.measured)}`;
});

function ageText(entry) {
  return entry.measured ? t("measured {when}", { when: ago(new Date(entry.measured).toISOString()) }) : t("no data yet");
}

function paintDevice(entry) {
  const line = entry.tile.querySelector(".device");
  line.replaceChildren();
  if (entry.device) line.append(document.createTextNode(t("Device {device}", { device: entry.device })));
  if (entry.battery) {
    const pct = entry.battery.value;
    line.append(document.createTextNode(` · ${t("Battery")} `), el("span", { class: pct < 20 ? "low" : "" }, `${number(pct)} %`));
  }
}

function showFinding(f) {
  const entry = patients.get(f.patient_id);
  if (!entry) return;
  // A confirmed finding supersedes its unconfirmed first sighting (same patient, kind, start).
  if (f.kind.endsWith("_unconfirmed")) {
    if (entry.findings.has(f.key.replace("_unconfirmed|", "|"))) return;
  } else {
    entry.findings.delete(`${f.patient_id}|${f.kind}_unconfirmed|${f.key.split("|").pop()}`);
  }
  entry.findings.set(f.key, f);
  paintFindings(entry);
  dirty();
}

// A confirmed cardiac arrest: the clinician sends first responders to the patient's home in
// one action (alerts/dispatch); the tile then says they are alerted.
const CARDIAC_ARREST = new Set(["ventricular_flutter_fib", "asystole"]);
const CLINICIANS = new Set(["cardiologist", "nurse", "admin"]);
const sentFor = new Map();  // patient id -> incident id
let myRole = "";
function sendRespondersButton(f) {
  if (sentFor.has(f.patient_id)) return el("span", { class: "sent" }, t("First responders alerted"));
  const button = el("button", { class: "send", type: "button" }, t("Send first responders"));
  button.onclick = async () => {
    button.disabled = true;
    const response = await fetch(`/api/patients/${encodeURIComponent(f.patient_id)}/send-responders`, {
      method: "POST", credentials: "same-origin",
      headers: csrfHeaders({ "Content-Type": "application/json" }), body: JSON.stringify({ finding_key: f.key }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      sentFor.set(f.patient_id, body.id);
      button.replaceWith(el("span", { class: "sent" }, t("First responders alerted")));
    } else {
      button.disabled = false;
      button.title = body.detail || response.statusText;
      button.textContent = t("Not sent: {why}", { why: body.detail || response.statusText });
    }
  };
  return button;
}

function latestPerKind(entry) {
  // One line per kind: its latest episode, so that a burst of one kind (VT runs during a VF)
  // never pushes another kind out of view.
  const byKind = new Map();
  for (const f of entry.findings.values()) {
    const kind = f.kind.replace(/_unconfirmed$/, "");
    const shown = byKind.get(kind);
    if (!shown || Date.parse(f.start) > Date.parse(shown.start)) byKind.set(kind, f);
  }
  return [...byKind.values()].sort((a, b) => (RANK[b.severity] || 0) - (RANK[a.severity] || 0) || Date.parse(b.start) - Date.parse(a.start));
}

function paintFindings(entry) {
  const list = entry.tile.querySelector(".findings");
  list.replaceChildren();
  for (const f of latestPerKind(entry).slice(0, 4)) {
    const item = el("li", { class: `finding ${f.severity}${f.end ? " ended" : ""}`, "data-kind": f.kind, "data-start": f.start });
    const when = f.end ? `${clockTime(f.start)}–${clockTime(f.end)}` : t("since {when}", { when: clockTime(f.start) });
    item.textContent = `${label(FINDING_LABELS, f.kind)} (${when}): ${explain(f.explanation_key, f.explanation_args, f.explanation || f.method)}`;
    item.title = f.method;
    if (CARDIAC_ARREST.has(f.kind) && f.severity === "high" && CLINICIANS.has(myRole)) {
      item.append(sendRespondersButton(f));
    }
    list.append(item);
  }
}

function triage(entry, now) {
  let severity = 0, news2 = 0;
  for (const f of entry.findings.values()) {
    const active = !f.end || now - Date.parse(f.end) < ACTIVE_MS;
    if (active) severity = Math.max(severity, RANK[f.severity] || 0);
    if (f.kind === "news2" && now - Date.parse(f.start) < 24 * 3600e3) news2 = Math.max(news2, Number(f.values?.news2_total || 0));
  }
  const staleness = entry.measured ? now - entry.measured : Infinity;
  const alerted = typeof TelemedAlerts === "undefined" ? 0 : TelemedAlerts.rankFor(entry.p.id);
  return { alerted, severity, news2, staleness };
}

let pending = false;
function dirty() { if (!pending) { pending = true; setTimeout(repaintOrder, 500); } }

function repaintOrder() {
  pending = false;
  const now = Date.now();
  const ranked = [...patients.values()].map((e) => ({ e, t: triage(e, now) }));
  // Open alert priority first (a named person must act), then active findings, NEWS2, staleness.
  ranked.sort((a, b) => b.t.alerted - a.t.alerted || b.t.severity - a.t.severity || b.t.news2 - a.t.news2
    || (b.t.staleness === a.t.staleness ? 0 : b.t.staleness > a.t.staleness ? 1 : -1)
    || a.e.p.display_name.localeCompare(b.e.p.display_name));
  // Writes only what changed: with 500 tiles this pass runs twice a second under load.
  const set = (node, key, value) => { if (node[key] !== value) node[key] = value; };
  ranked.forEach(({ e, t: tr }, i) => {
    if (e.rank !== i) { e.rank = i; e.tile.style.order = String(i); e.tile.dataset.rank = String(i); }
    const stale = tr.staleness > STALE_MS;
    const sev = Math.max(tr.alerted, tr.severity);
    const cls = `tile${e.p.is_test ? " test-data" : ""}${sev === 3 ? " sev-high" : sev === 2 ? " sev-medium" : ""}${stale ? " stale" : " fresh"}`;
    set(e.tile, "className", cls);
    if (e.tile.dataset.severity !== String(tr.severity)) e.tile.dataset.severity = String(tr.severity);
    e.age ??= e.tile.querySelector(".age");
    set(e.age, "textContent", ageText(e));
    if (tr.news2 && e.news2 !== tr.news2) {
      e.news2 = tr.news2;
      const badge = e.tile.querySelector(".news2");
      badge.hidden = false; badge.textContent = t("NEWS2 {score}", { score: tr.news2 });
      badge.className = `news2 ${tr.news2 >= 7 ? "high" : tr.news2 >= 5 ? "medium" : ""}`;
    }
    for (const box of e.tile.querySelectorAll(".vital[data-measured]")) box.classList.toggle("old", now - Date.parse(box.dataset.measured) > OLD_VALUE_MS);
  });
  applyFilters();
}

function applyFilters() {
  const q = document.getElementById("search").value.trim().toLowerCase();
  const programme = document.getElementById("f-programme").value;
  const point = document.getElementById("f-point").value;
  const alert = document.getElementById("f-alert").value;
  let shown = 0;
  for (const e of patients.values()) {
    const severity = Number(e.tile.dataset.severity || 0);
    const ok = (!q || e.p.display_name.toLowerCase().includes(q) || e.p.id.toLowerCase().includes(q))
      && (!programme || e.p.programme === programme) && (!point || e.p.telemedpoint_id === point)
      && (!alert || (alert === "any" && severity > 0) || (alert === "high" && severity === 3) || (alert === "none" && severity === 0));
    e.tile.hidden = !ok;
    if (ok) shown++;
  }
  document.getElementById("count").textContent = t("Showing {n} of {total} patients", { n: shown, total: patients.size });
}

function fillFilters(list) {
  const add = (id, values, name) => {
    const select = document.getElementById(id);
    for (const v of [...new Set(values.filter(Boolean))].sort()) select.append(el("option", { value: v }, name(v)));
  };
  add("f-programme", list.map((p) => p.programme), (v) => label(PROGRAMME_LABELS, v));
  add("f-point", list.map((p) => p.telemedpoint_id), (v) => v);
  for (const id of ["search", "f-programme", "f-point", "f-alert"]) document.getElementById(id).addEventListener("input", applyFilters);
  document.getElementById("filters").addEventListener("submit", (event) => event.preventDefault());
  document.addEventListener("telemed-alerts", dirty);
}

async function start() {
  const me = await fetch("/api/me", { credentials: "same-origin" });
  if (me.ok) myRole = (await me.json()).role;
  const snapshot = await getJSON("/api/monitor/snapshot");
  const grid = document.getElementById("patients");
  for (const p of snapshot.patients) {
    const entry = { p, tile: tile(p), latest: new Map(), findings: new Map(), measured: 0 };
    patients.set(p.id, entry); grid.append(entry.tile);
  }
  for (const r of snapshot.latest) show(r);
  for (const f of snapshot.findings || []) showFinding(f);
  fillFilters(snapshot.patients);
  if (!snapshot.patients.length) grid.append(el("p", {}, t("No patients to show for this account.")));
  repaintOrder();
  await TelemedAlerts.start();
  connect();
  setInterval(repaintOrder, 10000);
  const sparks = await getJSON("/api/monitor/sparklines");
  for (const [pid, kinds] of Object.entries(sparks)) {
    const entry = patients.get(pid);
    if (!entry) continue;
    for (const [kind, points] of Object.entries(kinds)) drawSpark(entry.tile.querySelector(`[data-kind="${kind}"]`), points);
  }
}

async function repaint() {
  const snapshot = await getJSON("/api/monitor/snapshot");
  for (const r of snapshot.latest) show(r);
}

function connect() {
  const status = document.getElementById("status");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/monitor`);
  TelemedAlerts.bindSocket(ws);
  ws.onmessage = (event) => {
    window.monitorBytes = (window.monitorBytes || 0) + event.data.length;
    const frame = JSON.parse(event.data);
    if (frame.type === "hello") {
      document.getElementById("who").textContent = `${frame.user} (${label(ROLE_LABELS, frame.role)})`;
      myRole = frame.role;
      status.textContent = t("live"); status.className = "status live";
    } else if (frame.type === "readings") {
      for (const r of frame.readings) show(r);
    } else if (frame.type === "alerts") {
      for (const a of frame.alerts) TelemedAlerts.take(a);
    } else if (frame.type === "notices") {
      for (const n of frame.notices) TelemedAlerts.notice(n);
    } else if (frame.type === "findings") {
      for (const f of frame.findings) showFinding(f);
    } else if (frame.type === "gap") {
      repaint();  // this screen fell behind and missed readings: take the latest from the hub
    } else if (frame.type === "error") {
      status.textContent = t(frame.message); status.className = "status down";
    }
  };
  ws.onclose = () => {
    status.textContent = t("reconnecting…"); status.className = "status down";
    setTimeout(connect, 2000);
  };
}

start();
