// Open alerts on the group monitor: one line per episode on its patient's tile (alarms without a
// tile, e.g. a telemedpoint offline, in the strip at the top), with accept / pause / resolve.
// Self-contained so a redesigned monitor can carry it over: TelemedAlerts.start(), .take(alert),
// .bindSocket(ws). The hub pushes every change of an alert on /ws/monitor ("alerts" frames).
"use strict";

const TelemedAlerts = (() => {
  // Texts in the page's language when common.js's t() is there (the monitor loads it first).
  const t = (text, vars) => (typeof window.t === "function" ? window.t(text, vars)
    : (vars ? text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k])) : text));
  // "Pause" is both a rhythm finding and a button: the finding gets its own words.
  const title = (alert) => (alert.rule === "pause" ? t("Pause in the rhythm") : t(alert.title));
  const clock = (iso) => new Date(iso).toLocaleTimeString(document.documentElement.lang || undefined);
  const OUTCOMES = [
    ["no_action", t("No action needed")], ["phoned_patient", t("Phoned the patient")],
    ["medication_change", t("Medication change")], ["referred", t("Referred")],
    ["ambulance", t("Ambulance sent")], ["false_alarm", t("False alarm")],
  ];
  const PAUSE_MIN = [5, 10, 30, 60];
  const OPEN = new Set(["active", "delivered", "accepted"]);
  const shown = new Map();  // alert id -> { alert, item }
  let socket = null;

  function el(tag, attrs = {}, text = "") {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text) node.textContent = text;
    return node;
  }

  function age(iso) {
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 90) return `${Math.round(s)} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    return `${Math.round(s / 3600)} h`;
  }

  function listFor(alert) {
    const tile = document.querySelector(`#patient-${CSS.escape(alert.patient_id)}`);
    if (!tile) return document.getElementById("alerts-centre-list");
    let list = tile.querySelector(".alerts");
    if (!list) {
      list = el("ul", { class: "alerts" });
      tile.querySelector(".sub").after(list);
    }
    return list;
  }

  // Every change carries the session's CSRF token (csrf.js), as the API requires of screens.
  function postHeaders() {
    const headers = { "Content-Type": "application/json" };
    return typeof csrfHeaders === "function" ? csrfHeaders(headers) : headers;
  }

  async function act(alert, action, body) {
    const response = await fetch(`/api/alerts/${alert.id}/${action}`, {
      method: "POST", credentials: "same-origin",
      headers: postHeaders(), body: JSON.stringify(body || {}),
    });
    const reply = await response.json();
    if (!response.ok) { flash(alert, reply.detail || reply.title); return; }
    take(reply);
    const entry = shown.get(alert.id);
    if (entry) entry.item.querySelector(".alert-form")?.remove();  // done
  }

  function flash(alert, message) {
    const entry = shown.get(alert.id);
    if (!entry) return;
    const note = entry.item.querySelector(".alert-error") || el("div", { class: "alert-error" });
    note.textContent = message;
    entry.item.append(note);
  }

  function why(alert) {
    const e = alert.explanation || {};
    const parts = [explain(e.why_key, e.why_args, e.why)];
    const limit = e.threshold;
    if (limit) {
      parts.push(t("limit {direction} {trigger}, clears at {clear} ({source})", { direction: t(limit.direction),
        trigger: limit.trigger, clear: limit.clear, source: t(limit.provenance.source) }));
    }
    const n = (e.contributing || []).length;
    if (n > 1) parts.push(t("{n} findings: {kinds}", { n, kinds: [...new Set(e.contributing.map((c) => c.kind))].join(", ").replaceAll("_", " ") }));
    return parts.filter(Boolean).join(" · ");
  }

  function stateText(alert) {
    const parts = [alert.state === "accepted" ? t("accepted by {who}", { who: alert.accepted_by }) : t("not accepted yet")];
    if (alert.tier > 0) parts.push(t("escalated to {role}", { role: alert.target_roles[alert.target_roles.length - 1] }));
    if (alert.condition === "cleared") parts.push(t("condition cleared (latched)"));
    if (alert.paused_until && Date.parse(alert.paused_until) > Date.now()) {
      parts.push(t("paused by {who} until {when}: {reason}", { who: alert.paused_by, when: clock(alert.paused_until), reason: alert.pause_reason }));
    }
    return parts.join(" · ");
  }

  function form(alert, kind) {
    const box = el("form", { class: `alert-form ${kind}` });
    if (kind === "pause") {
      const reason = el("input", { name: "reason", placeholder: t("reason (required)"), required: "", "aria-label": t("Reason for the pause") });
      const minutes = el("select", { name: "minutes", "aria-label": t("Pause for") });
      for (const m of PAUSE_MIN) minutes.append(el("option", { value: m }, `${m} min`));
      box.append(reason, minutes, el("button", { type: "submit" }, t("Pause")));
      box.onsubmit = (ev) => { ev.preventDefault(); act(alert, "pause", { reason: reason.value, duration_s: 60 * Number(minutes.value) }); };
    } else {
      const outcome = el("select", { name: "outcome", "aria-label": t("Outcome") });
      for (const [v, label] of OUTCOMES) outcome.append(el("option", { value: v }, label));
      const note = el("input", { name: "note", placeholder: t("note"), "aria-label": t("Note") });
      box.append(outcome, note, el("button", { type: "submit" }, t("Resolve")));
      box.onsubmit = (ev) => { ev.preventDefault(); act(alert, "resolve", { outcome: outcome.value, note: note.value }); };
    }
    return box;
  }

  function render(alert, item) {
    const category = alert.category === "clinical" ? alert.priority : `${alert.priority} ${alert.category}`;
    item.className = `alert ${category} ${alert.state}`;
    item.dataset.alertId = alert.id;
    item.dataset.rule = alert.rule;
    item.replaceChildren();
    const head = el("div", { class: "alert-head" });
    head.append(el("strong", {}, title(alert)), el("span", { class: "age", "data-opened": alert.opened_at }, age(alert.opened_at)));
    const buttons = el("div", { class: "alert-actions" });
    if (alert.state !== "accepted") buttons.append(button("accept", t("Accept"), () => act(alert, "accept")));
    buttons.append(button("pause", t("Pause"), () => toggle(item, form(alert, "pause"))));
    buttons.append(button("resolve", t("Resolve"), () => toggle(item, form(alert, "resolve"))));
    if (alert.rule === "cardiac_arrest" && alert.priority === "high") buttons.append(sendResponders(alert));
    item.append(head, el("div", { class: "alert-why" }, why(alert)), el("div", { class: "alert-state" }, stateText(alert)), buttons);
  }

  // The clinician's confirmation of a cardiac arrest: first responders to the patient's home
  // (alerts/dispatch); the server checks the alert and the role.
  const sentFor = new Set();
  function sendResponders(alert) {
    if (sentFor.has(alert.id)) return el("span", { class: "sent" }, t("First responders alerted"));
    const b = el("button", { type: "button", class: "act-send-responders" }, t("Send first responders"));
    b.onclick = async () => {
      b.disabled = true;
      const response = await fetch(`/api/patients/${encodeURIComponent(alert.patient_id)}/send-responders`, {
        method: "POST", credentials: "same-origin", headers: postHeaders(),
        body: JSON.stringify({ alert_id: String(alert.id) }),
      });
      const reply = await response.json().catch(() => ({}));
      if (response.ok) { sentFor.add(alert.id); b.replaceWith(el("span", { class: "sent" }, t("First responders alerted"))); return; }
      b.disabled = false;
      flash(alert, t("Not sent: {why}", { why: reply.detail || reply.title || response.statusText }));
    };
    return b;
  }

  /** The highest open alert priority of a patient (3 high, 2 medium, 1 low, 0 none). */
  function rankFor(patientId) {
    let rank = 0;
    for (const { alert } of shown.values()) {
      if (alert.patient_id === patientId) rank = Math.max(rank, ({ high: 3, medium: 2, low: 1 })[alert.priority] || 0);
    }
    return rank;
  }

  function button(action, label, onclick) {
    const b = el("button", { type: "button", class: `act-${action}` }, label);
    b.onclick = onclick;
    return b;
  }

  function toggle(item, box) {
    const open = item.querySelector(".alert-form");
    if (open) { open.remove(); if (open.className === box.className) return; }
    item.append(box);
    box.querySelector("input, select").focus();
  }

  function read(alert) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "read", alert_ids: [alert.id] }));
  }

  function take(alert) {
    const entry = shown.get(alert.id);
    if (entry && alert.updated_at < entry.alert.updated_at) return;  // an older change
    if (!OPEN.has(alert.state)) {
      if (entry) { entry.item.remove(); shown.delete(alert.id); }
      centreCount();
      document.dispatchEvent(new CustomEvent("telemed-alerts", { detail: alert.patient_id }));
      return;
    }
    let item = entry ? entry.item : null;
    if (!item) {
      item = el("li");
      item.addEventListener("click", (ev) => { if (ev.target === item || ev.target.classList.contains("alert-why")) read(alert); });
      const list = listFor(alert);
      list.prepend(item);
    }
    const formOpen = item.querySelector(".alert-form");  // someone else's change keeps it open
    shown.set(alert.id, { alert, item });
    render(alert, item);
    if (formOpen) item.append(formOpen);
    centreCount();
    document.dispatchEvent(new CustomEvent("telemed-alerts", { detail: alert.patient_id }));
  }

  function centreCount() {
    const strip = document.getElementById("alerts-centre");
    if (!strip) return;
    const open = [...shown.values()].map((e) => e.alert);
    const paused = open.filter((a) => a.paused_until && Date.parse(a.paused_until) > Date.now());
    strip.querySelector(".count").textContent = open.length
      ? t("Open alerts: {n} · high: {high} · paused: {paused}",
        { n: open.length, high: open.filter((a) => a.priority === "high").length, paused: paused.length })
      : t("no open alerts");
    const pauses = strip.querySelector(".pauses");
    pauses.replaceChildren(...paused.map((a) => {
      const item = el("li", {}, `${title(a)} (${a.patient_id}) — ${a.pause_reason}, ${a.paused_by}, ${t("until {when}", { when: clock(a.paused_until) })}`);
      item.prepend(el("span", { class: "paused" }, t("Paused:") + " "));
      return item;
    }));
  }

  async function start() {
    const response = await fetch("/api/alerts?open=true", { credentials: "same-origin" });
    if (!response.ok) return;
    const alerts = await response.json();
    for (const a of alerts.reverse()) take(a);
    setInterval(() => {
      for (const span of document.querySelectorAll(".alert .age")) span.textContent = age(span.dataset.opened);
      centreCount();
    }, 5000);
  }

  function notice(n) {
    // A reminder to the patient (a missed measurement): shown in the strip until dismissed.
    const list = document.getElementById("alerts-centre-list");
    const item = el("li", { class: "alert low notice" });
    item.append(el("div", { class: "alert-head" }, n.subject), el("div", { class: "alert-why" }, n.body));
    item.append(button("ok", "OK", () => item.remove()));
    list.prepend(item);
  }

  return { start, take, notice, rankFor, bindSocket: (ws) => { socket = ws; } };
})();
