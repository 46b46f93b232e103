// The dispatcher's console: create incidents, watch offers, answers and positions live, close.
"use strict";

const $ = (id) => document.getElementById(id);
const esc = (text) => minimapEscape(text ?? "");
let selected = null;
let pending = null;

async function api(method, url, body) {
  const response = await fetch(url, {
    method, credentials: "same-origin",
    headers: csrfHeaders(body ? { "Content-Type": "application/json" } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 401) { location.href = "/login?next=/dispatch"; throw new Error("sign in"); }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || response.statusText);
  return data;
}

function time(iso) { return iso ? new Date(iso).toLocaleTimeString(LOCALE) : ""; }
// An enum word ("stood_down") in the page's language; English shows it as it always did.
function word(value) { return esc(t((value || "").replaceAll("_", " "))); }
function metres(m) { return m == null ? "" : m >= 1000 ? `${(m / 1000).toFixed(1)} km` : `${Math.round(m)} m`; }

async function loadList() {
  const list = $("incidents");
  const incidents = await api("GET", "/api/incidents");
  list.innerHTML = incidents.length ? "" : `<li class="muted">${esc(t("No incidents in the last 12 h."))}</li>`;
  for (const inc of incidents) {
    const li = document.createElement("li");
    li.dataset.incident = inc.id;
    li.className = inc.id === selected ? "sel" : "";
    li.innerHTML = `<span class="st">${word(inc.state)}</span>${esc(inc.address)}<div class="muted">${time(inc.created_at)} · ${esc(t("{n}/{max} accepted", { n: inc.accepted, max: inc.max_accept }))}</div>`;
    li.onclick = () => { selected = inc.id; loadList(); loadDetail(); };
    list.append(li);
  }
}

async function loadDetail() {
  if (!selected) return;
  const inc = await api("GET", `/api/incidents/${encodeURIComponent(selected)}`);
  const points = [];
  for (const o of inc.offers) {
    if (o.latitude == null) continue;
    points.push({ lat: o.latitude, lon: o.longitude, kind: "responder", label: o.username, faded: o.state !== "accepted" && o.state !== "offered" });
  }
  for (const a of inc.aeds) points.push({ lat: a.latitude, lon: a.longitude, kind: "aed", label: "" });
  const rows = inc.offers.map((o) => `<tr data-responder="${esc(o.username)}">
      <td>${esc(o.username)}</td><td>${metres(o.distance_m)}</td>
      <td><span class="state ${esc(o.state)}">${word(o.state)}</span></td>
      <td>${o.task === "aed" ? esc(t("fetch AED {id}", { id: o.aed_id })) : o.task === "cpr" ? esc(t("CPR")) : ""}</td>
      <td>${word(o.status)}</td><td>${time(o.position_at)}</td></tr>`).join("");
  const events = inc.events.map((e) => `<li><time>${time(e.at)}</time>${word(e.kind)}${e.detail ? ": " + esc(e.detail) : ""}</li>`).join("");
  const open = inc.state !== "closed";
  $("detail").innerHTML = `<div class="row"><h2>${esc(inc.address)}</h2><span class="state big-state" id="incident-state">${word(inc.state)}${inc.outcome ? " · " + word(inc.outcome) : ""}</span></div>
    <div class="muted">${esc(inc.summary)} · ${esc(t("opened {time} · phase {phase} · {n}/{max} accepted", { time: time(inc.created_at), phase: inc.phase + 1, n: inc.accepted, max: inc.max_accept }))}</div>
    <div class="detail-grid">
      <div>${minimap({ lat: inc.latitude, lon: inc.longitude }, points, 400)}</div>
      <div><table class="offers"><thead><tr>${["Responder", "Distance", "Answer", "Task", "Status", "Position"].map((h) => `<th>${esc(t(h))}</th>`).join("")}</tr></thead>
        <tbody>${rows || `<tr><td colspan="6" class="muted">${esc(t("No responder offered yet."))}</td></tr>`}</tbody></table>
        <h2 style="margin-top:14px">${esc(t("Timeline"))}</h2><ul class="timeline">${events}</ul></div>
    </div>
    <div class="actions" ${open ? "" : "hidden"}>
      <button class="btn go" data-close="handed_over">${esc(t("Handed over to the ambulance"))}</button>
      <button class="btn stop" data-close="stood_down" id="stand-down">${esc(t("Stand everyone down"))}</button>
      <button class="btn soft" data-close="cancelled">${esc(t("Cancel (false alarm)"))}</button>
    </div>`;
}

function refreshSoon() {  // many frames in a burst: one refetch
  if (pending) return;
  pending = setTimeout(async () => { pending = null; await loadList(); await loadDetail(); }, 150);
}

$("detail").addEventListener("click", async (event) => {
  const button = event.target.closest("[data-close]");
  if (!button || !selected) return;
  try { await api("POST", `/api/incidents/${encodeURIComponent(selected)}/close`, { outcome: button.dataset.close }); }
  catch (err) { alert(err.message); }
  refreshSoon();
});

$("create").onsubmit = async (event) => {
  event.preventDefault();
  $("create-error").textContent = "";
  const body = { address: $("address").value, latitude: Number($("latitude").value), longitude: Number($("longitude").value) };
  try {
    const inc = await api("POST", "/api/incidents", body);
    selected = inc.id;
    $("create").reset();
    refreshSoon();
  } catch (err) { $("create-error").textContent = err.message; }
};

function connect() {
  const status = $("status");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/dispatch`);
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "hello") {
      $("who").textContent = `${frame.user} (${label(ROLE_LABELS, frame.role)})`;
      status.textContent = t("live"); status.className = "status live";
      refreshSoon();
    } else if (frame.type === "incident") {
      if (!selected) selected = frame.incident_id;
      refreshSoon();
    } else if (frame.type === "position") {
      if (frame.incident_id === selected) refreshSoon();
    } else if (frame.type === "error") {
      status.textContent = t(frame.message); status.className = "status down";
    }
  };
  ws.onclose = () => { status.textContent = t("reconnecting…"); status.className = "status down"; setTimeout(connect, 2000); };
}

connect();
