// Patient timeline: summary, ESH home BP, trends (uPlot) by day/week/month, findings, notes,
// and the live ECG strip at 25 mm/s on a millimetre grid.
"use strict";

const PATIENT = document.getElementById("patient").dataset.patient;
const API = `/api/patients/${encodeURIComponent(PATIENT)}`;
const CHARTS = [
  { id: "heart_rate", kinds: ["heart_rate"] },
  { id: "spo2", kinds: ["spo2"] },
  { id: "bp", kinds: ["bp_systolic", "bp_diastolic"], title: t("Blood pressure") },
  { id: "body_weight", kinds: ["body_weight"] },
  { id: "pulse_rate", kinds: ["pulse_rate"] },
  { id: "respiratory_rate", kinds: ["respiratory_rate"] },
  { id: "body_temperature", kinds: ["body_temperature"] },
  { id: "glucose", kinds: ["glucose"] },
];
const COLORS = ["#58a6ff", "#f0883e"];
let plots = [];

function showSummary(s) {
  document.title = `${s.display_name} · Telemed`;
  document.getElementById("name").textContent = s.display_name;
  document.getElementById("meta").textContent =
    `${s.id} · ${label(PROGRAMME_LABELS, s.programme)}${s.telemedpoint_id ? " · " + s.telemedpoint_id : ""}`;
  const devices = document.getElementById("devices");
  devices.replaceChildren();
  for (const d of s.devices) devices.append(deviceItem(d, "last data {when}"));
  if (!s.devices.length) devices.append(el("li", {}, t("No device has sent data yet.")));
  const bp = document.getElementById("home-bp");
  bp.replaceChildren();
  const h = s.home_bp;
  for (const [name, m] of [[t("Morning"), h.morning], [t("Evening"), h.evening], [t("All"), h.overall]]) {
    const box = el("div", { class: "bp-mean" });
    box.append(el("div", { class: "label" }, name));
    box.append(el("div", { class: "value" }, m ? `${number(m.sbp_mmhg)}/${number(m.dbp_mmhg)}` : "–"));
    box.append(el("div", { class: "sub" }, m ? t("mmHg · {n} readings", { n: m.n }) : t("no readings")));
    bp.append(box);
  }
  const verdict = h.elevated === null
    ? t("Not enough readings for the ESH average (needs 3 days and 12 readings; {days} days so far).", { days: h.n_days })
    : h.elevated ? t("Above the home target of 135/85 mmHg.") : t("Within the home target of 135/85 mmHg.");
  bp.append(el("p", { class: `verdict ${h.elevated ? "bad" : ""}` }, verdict));
}

function chartOptions(title, unit, kinds, width, range) {
  const series = [timeSeries()];
  const bands = [];
  kinds.forEach((kind, i) => {
    const color = COLORS[i % COLORS.length];
    const base = series.length;
    series.push({ label: label(KIND_LABELS, kind), stroke: color, width: 2, value: (u, v) => v === null ? "–" : `${number(v, 1)} ${unit}` });
    series.push({ label: t("min"), stroke: color + "55", width: 1, show: true });
    series.push({ label: t("max"), stroke: color + "55", width: 1 });
    bands.push({ series: [base + 2, base + 1], fill: color + "22" });
  });
  return {
    title, width, height: 200, series, bands, tzDate: zoned,
    scales: { x: { time: true, range: () => range } },
    axes: [
      timeAxis({ stroke: "#8b98a5", grid: { stroke: "#263040" } }),
      { stroke: "#8b98a5", grid: { stroke: "#263040" }, label: unit },
    ],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
  };
}

async function drawTrends(range) {
  for (const p of plots) p.destroy();
  plots = [];
  const box = document.getElementById("charts");
  box.replaceChildren();
  box.setAttribute("aria-busy", "true");
  const empty = [];
  const width = Math.max(280, box.clientWidth - 4);
  const results = await Promise.all(CHARTS.map((c) =>
    Promise.all(c.kinds.map((k) => getJSON(`${API}/trends?kind=${k}&range=${range}`)))));
  CHARTS.forEach((c, i) => {
    const trends = results[i];
    if (trends.every((t) => t.t.length === 0)) { empty.push(c.title || label(KIND_LABELS, c.id)); return; }
    const times = [...new Set(trends.flatMap((t) => t.t))].sort((a, b) => a - b);
    const data = [times];
    for (const t of trends) {
      const at = new Map(t.t.map((x, j) => [x, j]));
      for (const key of ["mean", "min", "max"]) data.push(times.map((x) => at.has(x) ? t[key][at.get(x)] : null));
    }
    const holder = el("figure", { class: "chart", "data-kind": c.id });
    holder.append(el("figcaption", { class: "visually-hidden" }, t("{what} over the last {range}", { what: c.title || label(KIND_LABELS, c.id), range: t(range) })));
    box.append(holder);
    const opts = chartOptions(c.title || label(KIND_LABELS, c.id), KIND_UNITS[c.kinds[0]] || "", c.kinds, width, since(trends[0]));
    plots.push(new uPlot(opts, data, holder));
  });
  if (empty.length) box.append(el("p", { class: "hint" }, t("No data in this period: {kinds}.", { kinds: empty.join(", ") })));
  box.setAttribute("aria-busy", "false");
  document.body.dataset.chartsReady = range;
}

function showFindings(findings) {
  const list = document.getElementById("findings");
  list.replaceChildren();
  for (const f of findings) {
    const item = el("li", { class: `finding ${f.severity}${f.end ? " ended" : ""}`, "data-kind": f.kind });
    const when = f.end ? `${localTime(f.start)} – ${localTime(f.end)}` : t("since {when}", { when: localTime(f.start) });
    item.append(el("strong", {}, label(FINDING_LABELS, f.kind)), el("span", { class: "when" }, ` · ${when}`));
    item.append(el("p", {}, explain(f.explanation_key, f.explanation_args, f.explanation)));
    item.append(el("p", { class: "hint" }, t("Method: {method}", { method: f.method })));
    list.append(item);
  }
  if (!findings.length) list.append(el("li", { class: "hint" }, t("Nothing found in the stored data.")));
}

const OUTCOMES = { no_action: t("No action needed"), advice: t("Advice given"), medication_change: t("Medication changed"), referred: t("Referred"), ambulance: t("Ambulance sent"), not_reached: t("Not reached") };
const CHANNELS = { phone: t("phone"), video: t("video"), visit: t("visit"), message: t("message") };
function showNotes(notes) {
  const list = document.getElementById("notes");
  list.replaceChildren();
  for (const n of notes) {
    const item = el("li", { class: `note ${n.kind}` });
    const head = n.kind === "contact" ? `${t("Contact by {channel}", { channel: CHANNELS[n.channel] || n.channel })} · ${OUTCOMES[n.outcome] || n.outcome}` : t("Note");
    item.append(el("strong", {}, head), el("span", { class: "when" }, ` · ${localTime(n.at)} · ${n.author}`));
    item.append(el("p", {}, n.text));
    list.append(item);
  }
  if (!notes.length) list.append(el("li", { class: "hint" }, t("No notes yet.")));
}

function noteForm() {
  const form = document.getElementById("note-form");
  const kind = document.getElementById("note-kind");
  const sync = () => form.classList.toggle("is-contact", kind.value === "contact");
  kind.addEventListener("change", sync); sync();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("note-error");
    const data = Object.fromEntries(new FormData(form));
    if (!data.text.trim()) { error.textContent = t("Write the text first."); form.elements.text.focus(); return; }
    const body = { kind: data.kind, text: data.text };
    if (data.kind === "contact") { body.channel = data.channel || null; body.outcome = data.outcome || null; }
    try {
      await getJSON(`${API}/notes`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      error.textContent = ""; form.reset(); sync();
      showNotes(await getJSON(`${API}/notes`));
    } catch (e) { error.textContent = e.message; }
  });
}

const AUDIT_ACTIONS = {
  read: "Read", search: "Searched", create: "Created", update: "Changed", delete: "Deleted",
  export: "Exported", login: "Signed in",
};

async function showAudit() {
  const rows = await getJSON(`${API}/audit?limit=50`);
  const body = document.getElementById("audit");
  for (const r of rows) {
    const tr = el("tr");
    tr.append(el("td", {}, localTime(r.at)), el("td", {}, r.actor), el("td", {}, `${label(AUDIT_ACTIONS, r.action)} · ${r.entity_type}`));
    body.append(tr);
  }
  document.getElementById("audit-card").hidden = false;
}

// --- live ECG: 25 mm/s, 10 mm/mV, 1 mm grid with 5 mm major lines ---------------------------
const PX_PER_MM = 4, MM_PER_S = 25, MM_PER_MV = 10;
const ecg = { points: [], latest: 0, dirty: false };

function drawEcg() {
  const canvas = document.getElementById("ecg");
  const width = canvas.clientWidth;
  if (canvas.width !== width) canvas.width = width;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff7f7"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (let mm = 0; mm * PX_PER_MM < Math.max(canvas.width, canvas.height); mm++) {
    ctx.strokeStyle = mm % 5 === 0 ? "#f2a7a7" : "#fbdede";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(mm * PX_PER_MM + 0.5, 0); ctx.lineTo(mm * PX_PER_MM + 0.5, canvas.height);
    ctx.moveTo(0, mm * PX_PER_MM + 0.5); ctx.lineTo(canvas.width, mm * PX_PER_MM + 0.5);
    ctx.stroke();
  }
  const pxPerS = PX_PER_MM * MM_PER_S, mid = canvas.height / 2;
  ctx.strokeStyle = "#111"; ctx.lineWidth = 1.4; ctx.beginPath();
  let started = false;
  for (const [t, mv] of ecg.points) {
    const x = canvas.width - (ecg.latest - t) * pxPerS;
    if (x < 0) continue;
    const y = mid - mv * MM_PER_MV * PX_PER_MM;
    if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
  }
  ctx.stroke();
}

function takeEcg(frame) {
  if (frame.lead !== (ecg.lead ??= frame.lead)) return;  // one lead on the strip
  const t0 = Date.parse(frame.start) / 1000;
  frame.samples.forEach((v, i) => ecg.points.push([t0 + i / frame.fs_hz, (v * frame.factor) / 1000]));
  ecg.latest = Math.max(ecg.latest, t0 + frame.samples.length / frame.fs_hz);
  const keep = ecg.latest - (document.getElementById("ecg").clientWidth / (PX_PER_MM * MM_PER_S)) - 1;
  while (ecg.points.length && ecg.points[0][0] < keep) ecg.points.shift();
  if (!ecg.dirty) { ecg.dirty = true; requestAnimationFrame(() => { ecg.dirty = false; drawEcg(); }); }
}

function connectEcg() {
  const status = document.getElementById("ecg-status");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/patients/${encodeURIComponent(PATIENT)}/ecg`);
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "ecg") {
      status.textContent = t("live · lead {lead} · {device}", { lead: frame.lead, device: frame.device_id }); status.className = "status live";
      document.getElementById("ecg").dataset.samples = String(ecg.points.length + frame.samples.length);
      takeEcg(frame);
    } else if (frame.type === "hello") { document.getElementById("ecg").dataset.ready = "1";
    } else if (frame.type === "error") { status.textContent = t(frame.message); status.className = "status down"; }
  };
  ws.onclose = () => {
    status.textContent = t("reconnecting…"); status.className = "status down"; delete document.getElementById("ecg").dataset.ready;
    setTimeout(connectEcg, 3000);
  };
}

async function start() {
  const me = await getJSON("/api/me");
  document.getElementById("who").textContent = `${me.username} (${label(ROLE_LABELS, me.role)})`;
  const [summary, findings, notes] = await Promise.all([
    getJSON(`${API}/summary`), getJSON(`${API}/findings?limit=100`), getJSON(`${API}/notes`),
  ]);
  setZone(summary.timezone);
  showSummary(summary); showFindings(findings); showNotes(notes); noteForm();
  drawEcg(); connectEcg();
  for (const b of document.querySelectorAll("[data-range]")) {
    b.addEventListener("click", () => {
      for (const o of document.querySelectorAll("[data-range]")) o.setAttribute("aria-pressed", String(o === b));
      drawTrends(b.dataset.range);
    });
  }
  await drawTrends("day");
  if (me.role === "admin") await showAudit();
}

start().catch((e) => {
  document.getElementById("name").textContent = e.message === "signed out" ? "…" : t("Cannot show this patient: {error}", { error: e.message });
});
