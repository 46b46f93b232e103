// Group monitor: first paint from /api/monitor/snapshot, then live frames from /ws/monitor.
"use strict";

const SHOWN = [
  ["heart_rate", "HR"], ["spo2", "SpO₂"], ["pulse_rate", "Pulse"],
  ["bp_systolic", "Sys"], ["bp_diastolic", "Dia"], ["respiratory_rate", "Resp"],
  ["body_temperature", "Temp"], ["body_weight", "Weight"], ["glucose", "Glucose"],
];
const UNIT_LABEL = { "/min": "/min", "%": "%", "mm[Hg]": "mmHg", "Cel": "°C", "kg": "kg", "mmol/L": "mmol/L" };
const STALE_MS = 5 * 60 * 1000;
const latest = new Map();   // patient id -> Map(kind -> reading)

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function tile(patient) {
  const t = el("section", { class: "tile", id: `patient-${patient.id}`, "data-patient": patient.id });
  const title = el("h2", {}, patient.display_name);
  if (patient.is_test) {
    t.classList.add("test-data");
    title.append(el("span", { class: "test-badge", title: "simulated patient (HTEST): not real data" }, "TEST DATA"));
  }
  t.append(title);
  t.append(el("div", { class: "sub" }, `${patient.id} · ${patient.programme.replace("_", " ")}`));
  const grid = el("div", { class: "vitals" });
  for (const [kind, label] of SHOWN) {
    const v = el("div", { class: "vital", "data-kind": kind });
    const head = el("div", { class: "label" }, label);
    head.append(el("span", { class: "unit" }, ""));
    v.append(head, el("span", { class: "value" }, "–"));
    grid.append(v);
  }
  t.append(grid);
  t.append(el("ul", { class: "findings" }));
  return t;
}

function format(value, kind) {
  if (value === null || value === undefined) return "?";
  return kind === "body_temperature" || kind === "glucose" || kind === "body_weight"
    ? value.toFixed(1) : Math.round(value).toString();
}

function show(reading) {
  // Tiles show what devices measured; derived values (e.g. HR from ECG) go with findings.
  if ((reading.flags || []).includes("derived")) return;
  const byKind = latest.get(reading.patient_id);
  if (!byKind) return;
  const prev = byKind.get(reading.kind);
  if (prev && prev.measured_at > reading.measured_at) return;  // an older replay
  byKind.set(reading.kind, reading);
  const box = document.querySelector(`#patient-${CSS.escape(reading.patient_id)} [data-kind="${reading.kind}"]`);
  if (!box) return;
  box.querySelector(".value").textContent = format(reading.value, reading.kind);
  box.querySelector(".unit").textContent = UNIT_LABEL[reading.unit] ?? reading.unit;
  box.classList.toggle("invalid", (reading.flags || []).includes("invalid"));
  box.title = `measured ${reading.measured_at}`;
  const t = box.closest(".tile");
  t.dataset.lastSeen = Date.now().toString();
  t.classList.add("fresh");
  t.classList.remove("stale");
}

const findingsShown = new Map();  // finding key -> list item
const latestOfKind = new Map();  // "patient|kind" -> key of the finding shown for it
function showFinding(f) {
  const list = document.querySelector(`#patient-${CSS.escape(f.patient_id)} .findings`);
  if (!list) return;
  // A confirmed finding supersedes its unconfirmed first sighting (same patient, kind, start).
  const unconfirmedKey = `${f.patient_id}|${f.kind}_unconfirmed|${f.key.split("|").pop()}`;
  if (f.kind.endsWith("_unconfirmed")) {
    if (findingsShown.has(f.key.replace("_unconfirmed|", "|"))) return;
  } else if (findingsShown.has(unconfirmedKey)) {
    findingsShown.get(unconfirmedKey).remove();
    findingsShown.delete(unconfirmedKey);
  }
  // One line per patient and kind: the latest episode of each, so that a burst of one kind
  // (VT runs during a VF, say) never pushes another kind out of view.
  const kindKey = `${f.patient_id}|${f.kind.replace(/_unconfirmed$/, "")}`;
  const shownKey = latestOfKind.get(kindKey);
  if (shownKey && shownKey !== f.key && findingsShown.has(shownKey)) {
    const shown = findingsShown.get(shownKey);
    if (Date.parse(shown.dataset.start) > Date.parse(f.start)) return;  // an older episode
    shown.remove();
    findingsShown.delete(shownKey);
  }
  latestOfKind.set(kindKey, f.key);
  let item = findingsShown.get(f.key);
  if (!item) {
    item = el("li", { "data-kind": f.kind, "data-start": f.start });
    findingsShown.set(f.key, item);
    list.prepend(item);
    while (list.children.length > 4) list.lastChild.remove();
  }
  item.className = `finding ${f.severity}${f.end ? " ended" : ""}`;
  item.textContent = `${f.kind.replaceAll("_", " ")}: ${f.explanation || f.method}`;
  item.title = `${f.method} · since ${f.start}${f.end ? " until " + f.end : ""}`;
  if (CARDIAC_ARREST.has(f.kind) && f.severity === "high" && CLINICIANS.has(myRole)) {
    item.append(sendRespondersButton(f));
  }
}

// A confirmed cardiac arrest: the clinician sends first responders to the patient's home in
// one action (alerts/dispatch); the tile then says they are alerted.
const CARDIAC_ARREST = new Set(["ventricular_flutter_fib", "asystole"]);
const CLINICIANS = new Set(["cardiologist", "nurse", "admin"]);
const sentFor = new Map();  // patient id -> incident id
let myRole = "";
function sendRespondersButton(f) {
  if (sentFor.has(f.patient_id)) return el("span", { class: "sent" }, "First responders alerted");
  const button = el("button", { class: "send", type: "button" }, "Send first responders");
  button.onclick = async () => {
    button.disabled = true;
    const response = await fetch(`/api/patients/${encodeURIComponent(f.patient_id)}/send-responders`, {
      method: "POST", credentials: "same-origin",
      headers: csrfHeaders({ "Content-Type": "application/json" }), body: JSON.stringify({ finding_key: f.key }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      sentFor.set(f.patient_id, body.id);
      button.replaceWith(el("span", { class: "sent" }, "First responders alerted"));
    } else {
      button.disabled = false;
      button.title = body.detail || response.statusText;
      button.textContent = `Not sent: ${body.detail || response.statusText}`;
    }
  };
  return button;
}

function markStale() {
  for (const t of document.querySelectorAll(".tile")) {
    const seen = Number(t.dataset.lastSeen || 0);
    if (seen && Date.now() - seen > STALE_MS) { t.classList.remove("fresh"); t.classList.add("stale"); }
  }
}

async function start() {
  const me = await fetch("/api/me", { credentials: "same-origin" });
  if (me.ok) myRole = (await me.json()).role;
  const response = await fetch("/api/monitor/snapshot", { credentials: "same-origin" });
  if (response.status === 401) { location.href = "/login"; return; }
  const snapshot = await response.json();
  const grid = document.getElementById("patients");
  for (const p of snapshot.patients) { latest.set(p.id, new Map()); grid.append(tile(p)); }
  for (const r of snapshot.latest) show(r);
  for (const f of snapshot.findings || []) showFinding(f);
  if (!snapshot.patients.length) grid.append(el("p", {}, "No patients to show for this account."));
  await TelemedAlerts.start();
  connect();
  setInterval(markStale, 10000);
}

async function repaint() {
  const response = await fetch("/api/monitor/snapshot", { credentials: "same-origin" });
  if (response.ok) for (const r of (await response.json()).latest) show(r);
}

function connect() {
  const status = document.getElementById("status");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/monitor`);
  TelemedAlerts.bindSocket(ws);
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "hello") {
      document.getElementById("who").textContent = `${frame.user} (${frame.role})`;
      myRole = frame.role;
      status.textContent = "live"; status.className = "status live";
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
      status.textContent = frame.message; status.className = "status down";
    }
  };
  ws.onclose = () => {
    status.textContent = "reconnecting…"; status.className = "status down";
    setTimeout(connect, 2000);
  };
}

start();
