// My account: change my password, see my open sessions, sign out everywhere.
"use strict";

const $ = (id) => document.getElementById(id);

async function loadSessions() {
  const sessions = await getJSON("/api/me/sessions");
  $("sessions").replaceChildren(...sessions.map((s) => {
    const item = el("li", {}, t("Signed in {when}, last active {seen}",
      { when: localTime(s.created_at), seen: ago(s.last_seen_at) }));
    if (s.current) item.append(el("span", { class: "this" }, t("this session")));
    return item;
  }));
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
