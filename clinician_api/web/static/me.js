// Patient portal: my day's measurements, my latest values, my week, my devices.
"use strict";

const SLOT_STATE = { done: t("Done"), due: t("Measure now"), missed: t("Missed"), upcoming: t("Later today") };
const LATEST = ["bp_systolic", "body_weight", "heart_rate", "spo2"];
const SHORT = { bp_systolic: t("Blood pressure"), body_weight: t("Weight"), heart_rate: t("Heart rate"), spo2: t("Oxygen (SpO₂)") };

function showToday(slots) {
  const list = document.getElementById("slots");
  list.replaceChildren();
  for (const s of slots) {
    const item = el("li", { class: s.status, "data-status": s.status });
    const what = s.kind === "bp_systolic" ? t("Blood pressure") : label(KIND_LABELS, s.kind);
    item.append(el("span", {}, `${what} · ${clockTime(s.due)}`));
    const state = s.status === "done" ? `${SLOT_STATE.done} ${clockTime(s.measured_at)}` : SLOT_STATE[s.status];
    item.append(el("span", { class: "state" }, state));
    list.append(item);
  }
  const status = document.getElementById("today-status");
  const open = slots.filter((s) => s.status === "due" || s.status === "upcoming").length;
  const missed = slots.filter((s) => s.status === "missed").length;
  if (!slots.length) { status.textContent = t("No measurements are scheduled for you."); status.className = "big-status"; }
  else if (!open && !missed) { status.textContent = t("All of today's measurements are done. Thank you!"); status.className = "big-status done"; }
  else { status.textContent = t("{n} of {total} measurements still to do today.", { n: open + missed, total: slots.length }); status.className = "big-status todo"; }
}

async function showLatest(pid) {
  const box = document.getElementById("latest");
  const base = `/api/patients/${encodeURIComponent(pid)}/readings`;
  const found = await Promise.all(LATEST.map((k) => getJSON(`${base}?kind=${k}&limit=1`)));
  const dia = await getJSON(`${base}?kind=bp_diastolic&limit=1`);
  LATEST.forEach((kind, i) => {
    const r = found[i][0];
    const tile = el("div", { class: "value-box", "data-kind": kind });
    tile.append(el("div", { class: "label" }, SHORT[kind]));
    const value = el("div", { class: "value" });
    if (!r) value.textContent = "–";
    else {
      const shown = kind === "bp_systolic" && dia[0] ? `${number(r.value)}/${number(dia[0].value)}`
        : number(r.value, kind === "body_weight" ? 1 : 0);
      value.append(document.createTextNode(shown), el("span", { class: "unit" }, kind === "bp_systolic" ? "mmHg" : KIND_UNITS[kind]));
    }
    tile.append(value, el("div", { class: "when" }, r ? localTime(r.measured_at) : t("not measured yet")));
    box.append(tile);
  });
}

function showBp(h) {
  const bp = document.getElementById("home-bp");
  for (const [name, m] of [[t("Mornings"), h.morning], [t("Evenings"), h.evening]]) {
    const box = el("div", { class: "bp-mean" });
    box.append(el("div", { class: "label" }, name), el("div", { class: "value" }, m ? `${number(m.sbp_mmhg)}/${number(m.dbp_mmhg)}` : "–"));
    box.append(el("div", { class: "sub" }, m ? t("average of {n} measurements", { n: m.n }) : t("no measurements yet")));
    bp.append(box);
  }
}

// A little room above and below the values (uPlot's own range for one value spans 0 to 2x).
function padded(min, max) {
  const pad = Math.max(1, (max - min) * 0.15);
  return [Math.floor(min - pad), Math.ceil(max + pad)];
}

async function showWeek(pid) {
  const box = document.getElementById("charts");
  const width = Math.max(260, box.clientWidth - 4);
  for (const [kind, title] of [["bp_systolic", t("Blood pressure (upper)")], ["body_weight", t("Weight")]]) {
    const t = await getJSON(`/api/patients/${encodeURIComponent(pid)}/trends?kind=${kind}&range=week`);
    if (!t.t.length) continue;
    const holder = el("figure", { class: "chart", "data-kind": kind });
    box.append(holder);
    const [lo, hi] = since(t);
    new uPlot({
      title, width, height: 180, tzDate: zoned,
      scales: { x: { time: true, range: () => [lo, hi] }, y: { range: (u, min, max) => padded(min, max) } },
      series: [timeSeries(), { label: title, stroke: "#58a6ff", width: 3, points: { size: 7 } }],
      axes: [timeAxis({ stroke: "#8b98a5", grid: { stroke: "#263040" } }), { stroke: "#8b98a5", grid: { stroke: "#263040" } }],
      cursor: { drag: { x: false, y: false } },
    }, [t.t, t.mean], holder);
  }
  if (!box.children.length) box.append(el("p", { class: "hint" }, t("No measurements this week yet.")));
}

function showDevices(devices) {
  const list = document.getElementById("devices");
  for (const d of devices) list.append(deviceItem(d, "sent data {when}"));
  if (!devices.length) list.append(el("li", {}, t("No device has sent data yet.")));
}

const CHANNELS = { websocket: t("this screen"), sms: t("SMS"), email: t("e-mail") };
const EPISODE_STATE = {
  active: t("your care team is being alerted"), delivered: t("your care team has been alerted"),
  pending: t("being checked"), accepted: t("{who} is taking care of it"), resolved: t("dealt with"),
};

function showReminders(reminders) {
  const list = document.getElementById("reminders");
  list.replaceChildren(...reminders.map((r) => {
    const item = el("li", { "data-at": r.at });
    item.append(el("span", { class: "when" }, localTime(r.at)), el("p", {}, r.body));
    const via = r.deliveries.map((d) => CHANNELS[d.channel] || d.channel).join(", ");
    item.append(el("p", { class: "when" }, t("sent to: {via}", { via })));
    return item;
  }));
  if (!reminders.length) list.append(el("li", {}, t("No reminders in the last 30 days.")));
}

function showEpisodes(episodes) {
  const list = document.getElementById("episodes");
  list.replaceChildren(...episodes.filter((e) => e.category !== "technical").map((e) => {
    const item = el("li", { class: e.priority });
    item.append(el("span", { class: "when" }, localTime(e.opened_at)),
      el("p", {}, label(FINDING_LABELS, e.kind)));
    const why = explain(e.why_key, e.why_args, e.why);
    if (why) item.append(el("p", { class: "why" }, why));
    const state = (EPISODE_STATE[e.state] || e.state).replace("{who}", e.accepted_by || t("your care team"));
    item.append(el("p", { class: "when" }, state));
    return item;
  }));
  if (!list.children.length) list.append(el("li", {}, t("No alerts in the last 30 days.")));
}

async function start() {
  const me = await getJSON("/api/me");
  const pid = me.patient_id;
  const base = `/api/patients/${encodeURIComponent(pid)}`;
  const [summary, today] = await Promise.all([getJSON(`${base}/summary`), getJSON(`${base}/today`)]);
  setZone(summary.timezone);
  document.getElementById("hello").textContent = summary.display_name;
  showToday(today); showBp(summary.home_bp); showDevices(summary.devices);
  const [reminders, episodes] = await Promise.all([getJSON(`${base}/reminders`), getJSON(`${base}/episodes`)]);
  showReminders(reminders); showEpisodes(episodes);
  await showLatest(pid);
  await showWeek(pid);
  document.body.dataset.ready = "1";
}

start().catch((e) => { document.getElementById("today-status").textContent = t("Cannot load your data: {error}", { error: e.message }); });
