// The responder's phone page: duty, position from the browser, offers, the accepted incident.
"use strict";

const $ = (id) => document.getElementById(id);
const TASKS = { cpr: "Go to the patient and start CPR", aed: "Fetch the AED first, then go to the patient" };  // msgids
const STATUSES = [["en_route", "En route"], ["on_scene", "On scene"], ["cpr_started", "CPR started"], ["aed_attached", "AED attached"]];
let current = { on_duty: false, offers: [], incident: null };
let lastSent = 0;

async function api(method, url, body) {
  const response = await fetch(url, {
    method, credentials: "same-origin",
    headers: csrfHeaders(body ? { "Content-Type": "application/json" } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 401) { location.href = "/login?next=/respond"; throw new Error("sign in"); }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || response.statusText);
  return data;
}

function say(text) { $("error").textContent = text || ""; }
function note(text) { const m = $("message"); m.hidden = !text; m.textContent = text || ""; }
function esc(text) { return minimapEscape(text ?? ""); }
function metres(m) { return m >= 1000 ? `${(m / 1000).toFixed(1)} km` : `${Math.round(m)} m`; }

function render() {
  $("duty-state").textContent = current.on_duty ? t("On duty") : t("Off duty");
  $("duty").textContent = current.on_duty ? t("Go off duty") : t("Go on duty");
  $("duty").className = current.on_duty ? "btn soft" : "btn go";
  const offers = $("offers");
  offers.innerHTML = "";
  for (const o of current.offers) offers.append(offerCard(o));
  const box = $("incident");
  box.hidden = !current.incident;
  if (current.incident) box.innerHTML = incidentHtml(current.incident);
  const idle = $("idle");
  idle.hidden = Boolean(current.offers.length || current.incident);
  idle.textContent = current.on_duty
    ? t("Waiting for alerts. Keep this page open: a cardiac arrest near you will show here with a buzz.")
    : t("Off duty: you get no alerts. Go on duty when you can respond.");
}

function offerCard(o) {
  const card = document.createElement("div");
  card.className = "card offer"; card.dataset.incident = o.incident_id;
  const left = Math.max(0, Math.round((Date.parse(o.expires_at) - Date.now()) / 1000));
  card.innerHTML = `<div class="what">${esc(o.summary)}</div>
    <div class="where">${metres(o.distance_m)} ${esc(o.direction || "")}</div>
    <div class="muted">${esc(t("The address shows when you accept · answer within"))} <span class="left">${left}</span> s</div>
    <div class="answer"><button class="btn go accept">${esc(t("Accept"))}</button><button class="btn soft decline">${esc(t("Decline"))}</button></div>`;
  card.querySelector(".accept").onclick = () => answer(o.incident_id, "accept");
  card.querySelector(".decline").onclick = () => answer(o.incident_id, "decline");
  return card;
}

function incidentHtml(inc) {
  const arrow = inc.bearing_deg == null ? "" : `<span class="arrow" style="transform:rotate(${inc.bearing_deg}deg)">↑</span>`;
  const points = [];
  if (inc.me) points.push({ lat: inc.me[0], lon: inc.me[1], kind: "me", label: t("you") });
  if (inc.aed) points.push({ lat: inc.aed.latitude, lon: inc.aed.longitude, kind: "aed", label: "AED" });
  const aed = inc.aed ? `<div class="aed"><b>${esc(inc.task === "aed" ? t("AED to fetch") : t("Nearest AED (another responder may bring it)"))}:</b> ${esc(inc.aed.address)}<br>${esc(inc.aed.notes)}
      <div class="muted">${esc(t("Access: {hours}", { hours: inc.aed.access_hours }))}</div></div>` : "";
  const buttons = STATUSES.map(([s, label]) =>
    `<button class="btn ${inc.status === s ? "done" : "soft"}" data-status="${s}">${esc(t(label))}</button>`).join("");
  return `<div class="card" id="incident-card" data-incident="${esc(inc.id)}">
    <div class="task">${esc(t(TASKS[inc.task] || "Go to the patient"))}</div>
    <div class="address">${esc(inc.address)}</div>
    <div class="muted">${esc(inc.summary)}</div>
    <div class="heading">${arrow}<span>${inc.distance_m == null ? "" : metres(inc.distance_m) + " " + (inc.direction || "")}</span></div>
    ${aed}
    ${minimap({ lat: inc.latitude, lon: inc.longitude }, points)}
    <div class="statuses">${buttons}</div></div>`;
}

async function answer(id, verb) {
  say("");
  try {
    const result = await api("POST", `/api/incidents/${encodeURIComponent(id)}/${verb}`);
    current.offers = current.offers.filter((o) => o.incident_id !== id);
    if (verb === "accept") { current.incident = result; note(""); } else note(t("Declined. Thank you."));
  } catch (err) {
    current.offers = current.offers.filter((o) => o.incident_id !== id);
    note(err.message);
  }
  render();
}

async function refresh() {
  current = await api("GET", "/api/responders/me");
  render();
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-status]");
  if (!button || !current.incident) return;
  try {
    current.incident = await api("POST", `/api/incidents/${encodeURIComponent(current.incident.id)}/status`, { status: button.dataset.status });
    render();
  } catch (err) { say(err.message); }
});

$("duty").onclick = async () => {
  say("");
  try { await api("POST", "/api/responders/me/duty", { on_duty: !current.on_duty }); await refresh(); }
  catch (err) { say(err.message); }
};

function track() {
  if (!navigator.geolocation) { $("position").textContent = t("This phone gives no location."); return; }
  navigator.geolocation.watchPosition(async (pos) => {
    if (Date.now() - lastSent < 10000) return;
    lastSent = Date.now();
    try {
      await api("POST", "/api/responders/me/position", { latitude: pos.coords.latitude, longitude: pos.coords.longitude });
      $("position").textContent = t("Position shared at {time} (±{m} m)", { time: new Date().toLocaleTimeString(LOCALE), m: Math.round(pos.coords.accuracy) });
      $("position").dataset.shared = "1";
    } catch (err) { say(err.message); }
  }, (err) => { $("position").textContent = t("No location: {why}", { why: err.message }); }, { enableHighAccuracy: true, maximumAge: 10000 });
}

function connect() {
  const status = $("status");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/dispatch`);
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "hello") {
      status.textContent = t("live"); status.className = "status live";
      current = frame.current; render();
    } else if (frame.type === "offer") {
      current.offers = current.offers.filter((o) => o.incident_id !== frame.offer.incident_id).concat([frame.offer]);
      note(""); render();
      if (navigator.vibrate) navigator.vibrate([400, 200, 400]);
    } else if (frame.type === "offer_closed") {
      current.offers = current.offers.filter((o) => o.incident_id !== frame.incident_id);
      note(frame.reason === "filled" ? t("Enough responders have accepted. Thank you.") : t("The offer expired."));
      render();
    } else if (frame.type === "closed") {
      current.offers = current.offers.filter((o) => o.incident_id !== frame.incident_id);
      if (current.incident && current.incident.id === frame.incident_id) current.incident = null;
      note(t("Stood down: the incident is closed. Thank you for responding."));
      render();
    } else if (frame.type === "incident") {
      refresh();
    } else if (frame.type === "error") {
      status.textContent = t(frame.message); status.className = "status down";
    }
  };
  ws.onclose = () => { status.textContent = t("reconnecting…"); status.className = "status down"; setTimeout(connect, 2000); };
}

setInterval(() => {
  for (const card of document.querySelectorAll(".offer")) {
    const o = current.offers.find((x) => x.incident_id === card.dataset.incident);
    if (o) card.querySelector(".left").textContent = Math.max(0, Math.round((Date.parse(o.expires_at) - Date.now()) / 1000));
  }
}, 1000);

track();
connect();
