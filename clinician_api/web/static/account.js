// My account: change my password, see my open sessions, sign out everywhere.
"use strict";

const $ = (id) => document.getElementById(id);

// One line per open session: the browser and system (from its User-Agent), the address it
// signed in from, when, and when last active; every other session can be ended alone.
function deviceName(s) {
  if (!s.browser) return t("Unknown browser");
  const name = s.system ? t("{browser} on {system}", { browser: s.browser, system: s.system }) : s.browser;
  return s.model ? `${name} (${s.model})` : name;
}

function sessionItem(s) {
  const item = el("li", { "data-session": s.id });
  const what = el("div", { class: "device" }, deviceName(s));
  if (s.current) what.append(el("span", { class: "this" }, t("this session")));
  const when = el("div", { class: "when" }, t("Signed in {when} from {ip}, last active {seen}",
    { when: localTime(s.created_at), ip: s.client_ip || t("an unknown address"), seen: ago(s.last_seen_at) }));
  item.append(what, when);
  if (s.user_agent) item.title = s.user_agent;
  if (!s.current) {
    const end = el("button", { type: "button", class: "end-session secondary" }, t("Sign out this session"));
    end.setAttribute("aria-label", t("Sign out this session: {device}, signed in {when}", { device: deviceName(s), when: localTime(s.created_at) }));
    end.addEventListener("click", async () => {
      $("everywhere-error").textContent = "";
      try {
        await getJSON(`/api/me/sessions/${encodeURIComponent(s.id)}`, { method: "DELETE" });
        await loadSessions();
      } catch (e) { $("everywhere-error").textContent = e.message; }
    });
    item.append(end);
  }
  return item;
}

async function loadSessions() {
  const sessions = await getJSON("/api/me/sessions");
  $("sessions").replaceChildren(...sessions.map(sessionItem));
}

document.addEventListener("DOMContentLoaded", async () => {
  const form = $("password-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    $("password-error").textContent = ""; $("password-status").textContent = "";
    const current = form.elements.current_password.value;
    const fresh = form.elements.new_password.value;
    if (!current || !fresh) { $("password-error").textContent = t("Fill in the current and the new password."); return; }
    if (fresh !== form.elements.repeat.value) { $("password-error").textContent = t("The two new passwords differ."); return; }
    try {
      const result = await getJSON("/api/me/password", { method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ current_password: current, new_password: fresh }) });
      form.reset();
      $("password-status").textContent = t("Password changed; other sessions ended: {n}.", { n: result.sessions_ended });
      await loadSessions();
    } catch (e) { $("password-error").textContent = e.message; }
  });
  $("everywhere-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await getJSON("/api/me/sign-out-everywhere", { method: "POST" });
      location.href = "/login";
    } catch (e) { $("everywhere-error").textContent = e.message; }
  });
  await loadSessions();
  document.body.dataset.ready = "1";
});
