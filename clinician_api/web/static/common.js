// Shared by the screens: element helper, fetch with sign-in redirect, human labels, local times.
"use strict";

const KIND_LABELS = {
  heart_rate: "Heart rate", spo2: "SpO₂", pulse_rate: "Pulse rate", bp_systolic: "Systolic BP",
  bp_diastolic: "Diastolic BP", bp_mean: "Mean BP", respiratory_rate: "Respiratory rate",
  body_temperature: "Temperature", body_weight: "Weight", glucose: "Glucose",
  battery_level: "Battery", rr_interval: "RR interval", cuff_pressure: "Cuff pressure",
};
const UNIT_LABELS = { "/min": "/min", "%": "%", "mm[Hg]": "mmHg", "Cel": "°C", "kg": "kg", "mmol/L": "mmol/L", "ms": "ms" };
const KIND_UNITS = {
  heart_rate: "/min", spo2: "%", pulse_rate: "/min", bp_systolic: "mmHg", bp_diastolic: "mmHg",
  respiratory_rate: "/min", body_temperature: "°C", body_weight: "kg", glucose: "mmol/L",
};
const FINDING_LABELS = {
  spo2_desaturation: "SpO₂ desaturation", spo2_sustained_low: "SpO₂ low for minutes",
  hypertensive_crisis: "Hypertensive crisis", hypertensive_crisis_unconfirmed: "Very high BP (unconfirmed)",
  weight_gain: "Weight gain", news2: "NEWS2 score", atrial_fibrillation: "Atrial fibrillation",
  bradycardia: "Bradycardia", tachycardia: "Tachycardia", pause: "Pause",
  asystole: "Asystole", ventricular_tachycardia: "Ventricular tachycardia",
  ventricular_flutter_fib: "Ventricular flutter / fibrillation", extreme_bradycardia: "Extreme bradycardia",
  extreme_tachycardia: "Extreme tachycardia", ecg_strip: "ECG strip", home_bp_elevated: "Home BP above target",
  missed_measurement: "Missed measurement",
};
const PROGRAMME_LABELS = { heart_failure: "Heart failure", hypertension: "Hypertension" };
const DEVICE_KIND_LABELS = {
  bp_monitor: "Blood pressure monitor", scale: "Scale", pulse_oximeter: "Pulse oximeter",
  thermometer: "Thermometer", glucose_meter: "Glucose meter", ecg_strap: "ECG strap", hr_strap: "Heart-rate strap",
};
// A device of the patient (registry and/or readings), for the patient view and the portal: what
// it is, and when it last sent data ("never yet" for a registered device still silent).
function deviceItem(d, lastText) {
  const stale = !d.last_measured_at || Date.now() - Date.parse(d.last_measured_at) > 24 * 3600e3;
  const item = el("li", { class: stale ? "stale" : "", "data-device": d.device_id });
  const name = d.registered ? `${label(DEVICE_KIND_LABELS, d.kind)} ${d.model}` : d.device_id;
  item.append(el("strong", {}, name));
  if (d.registered) item.append(el("span", { class: "device-id" }, ` (${d.device_id})`));
  item.append(el("span", {}, " " + (d.last_measured_at ? t(lastText, { when: ago(d.last_measured_at) }) : t("no data received yet"))));
  if (d.battery_pct !== null && d.battery_pct !== undefined) {
    item.append(el("span", { class: d.battery_pct < 20 ? "low" : "" }, " · " + t("battery {pct} %", { pct: number(d.battery_pct) })));
  }
  return item;
}
const ROLE_LABELS = {
  patient: "Patient", nurse: "Nurse", cardiologist: "Cardiologist", responder: "First responder",
  dispatcher: "Dispatcher", admin: "Administrator",
};

// Translation of the page's language (the server puts the catalogue in a JSON data block,
// #i18n-catalogue, since the CSP runs no inline script; msgids are English).
if (!window.I18N) {
  const block = document.getElementById("i18n-catalogue");
  window.I18N = block ? JSON.parse(block.textContent) : {};
}
// Why a finding or an alert fired, from its key and values (telemed_core/explanations.py): the
// English template (#i18n-explain) through the catalogue, each value shown by its name's kind;
// findings stored before keys existed show their English text.
const EXPLAIN = (() => {
  const block = document.getElementById("i18n-explain");
  return block ? JSON.parse(block.textContent) : { templates: {}, kinds: {} };
})();
function explainValue(name, v) {
  if (name.endsWith("_note")) return v ? explain(v.key, v.args) : "";  // an optional clause
  if (v === null || v === undefined) return "–";
  if (name === "kind" || name.endsWith("_kind")) return t(EXPLAIN.kinds[v] || String(v).replaceAll("_", " "));
  if (name.endsWith("_text")) return t(String(v));
  if (name.endsWith("_at")) return localTime(v);
  if (name.endsWith("_date")) return new Intl.DateTimeFormat(LOCALE, { dateStyle: "medium", timeZone: "UTC" }).format(new Date(`${v}T00:00:00Z`));
  if (typeof v === "number") return new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 }).format(v);
  return String(v);
}
function explain(key, args, fallback = "") {
  const template = key && EXPLAIN.templates[key];
  if (!template) return fallback || "";
  const local = t(template);
  const out = local.replace(/\{(\w+)\}/g, (_, name) => explainValue(name, (args || {})[name]));
  // A sentence that opens with a kind's name ("heart rate 131 is ...") starts with a capital.
  return local.startsWith("{kind}") ? out.charAt(0).toUpperCase() + out.slice(1) : out;
}

function t(text, vars) {
  const out = (window.I18N || {})[text] || text;
  return vars ? out.replace(/\{(\w+)\}/g, (_, k) => String(vars[k])) : out;
}

// The language switch in the header: saved per user, then the page is served again.
document.addEventListener("DOMContentLoaded", () => {
  const select = document.getElementById("lang");
  if (!select) return;
  select.value = document.documentElement.lang;
  select.addEventListener("change", async () => {
    await getJSON("/api/me/language", { method: "PUT",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ language: select.value }) });
    location.reload();
  });
});

function label(map, key) {
  return t(map[key] || (key || "").replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase()));
}

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, v);
  if (text !== "" && text !== null && text !== undefined) node.textContent = text;
  return node;
}

async function getJSON(url, options = {}) {
  // Unsafe methods carry the session's CSRF token (static/csrf.js).
  const unsafe = options.method && options.method !== "GET";
  const headers = unsafe && typeof csrfHeaders === "function" ? csrfHeaders(options.headers || {}) : options.headers;
  const response = await fetch(url, { credentials: "same-origin", ...options, headers });
  if (response.status === 401) { location.href = "/login"; throw new Error("signed out"); }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const message = body?.detail || body?.issue?.[0]?.diagnostics || `${response.status}`;
    // "body.text: String should ..." -> "text: String ...": the field, not the request's anatomy
    throw new Error((typeof message === "string" ? message : JSON.stringify(message)).replace(/\bbody\./g, ""));
  }
  return body;
}

const LOCALE = document.documentElement.lang || navigator.language || "en";
// Times are shown in the patient's time zone (setZone) once it is known, else the browser's.
let ZONE = undefined;
let TIME = new Intl.DateTimeFormat(LOCALE, { dateStyle: "medium", timeStyle: "short" });
let TIME_ONLY = new Intl.DateTimeFormat(LOCALE, { timeStyle: "short" });
function setZone(zone) {
  ZONE = zone;
  TIME = new Intl.DateTimeFormat(LOCALE, { dateStyle: "medium", timeStyle: "short", timeZone: zone });
  TIME_ONLY = new Intl.DateTimeFormat(LOCALE, { timeStyle: "short", timeZone: zone });
}
function localTime(iso) { return iso ? TIME.format(new Date(iso)) : "–"; }
function clockTime(iso) { return iso ? TIME_ONLY.format(new Date(iso)) : "–"; }
// uPlot draws its time axis in this zone.
function zoned(ts) { return ZONE ? uPlot.tzDate(new Date(ts * 1e3), ZONE) : new Date(ts * 1e3); }
function since(trend) { return [Date.parse(trend.since) / 1000, Date.parse(trend.until) / 1000]; }
function number(value, digits = 0) {
  return value === null || value === undefined ? "–"
    : new Intl.NumberFormat(LOCALE, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(value);
}
const RELATIVE = new Intl.RelativeTimeFormat(LOCALE, { numeric: "auto" });
function ago(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  const rtf = RELATIVE;
  if (s < 60) return rtf.format(-Math.round(s), "second");
  if (s < 3600) return rtf.format(-Math.round(s / 60), "minute");
  if (s < 86400) return rtf.format(-Math.round(s / 3600), "hour");
  return rtf.format(-Math.round(s / 86400), "day");
}

// uPlot in the page's language and the patient's zone: its own tick and legend templates are
// US English ("12/1", "2:00pm"), so ticks and the legend's time go through Intl instead.
function axisFormats() {
  const zone = ZONE ? { timeZone: ZONE } : {};
  return {
    day: new Intl.DateTimeFormat(LOCALE, { day: "numeric", month: "numeric", ...zone }),
    time: new Intl.DateTimeFormat(LOCALE, { hour: "2-digit", minute: "2-digit", hourCycle: LOCALE.startsWith("en") ? "h12" : "h23", ...zone }),
  };
}
function timeTicks(u, splits, axisIdx, space, incr) {
  const f = axisFormats();
  return splits.map((ts, i) => {
    const at = new Date(ts * 1e3);
    if (incr >= 86400) return f.day.format(at);
    const clock = f.time.format(at);
    const previous = i > 0 ? f.day.format(new Date(splits[i - 1] * 1e3)) : null;
    return previous === f.day.format(at) ? clock : `${clock}\n${f.day.format(at)}`;
  });
}
function timeAxis(style = {}) { return { ...style, values: timeTicks }; }
function timeSeries() {
  return { label: t("Time"), value: (u, ts) => ts === null || ts === undefined ? "–" : localTime(new Date(ts * 1e3).toISOString()) };
}
