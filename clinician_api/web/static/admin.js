// Administration: accounts (create, disable/enable, reset password, a nurse's telemedpoint),
// care teams (which clinicians follow which patients) and enrolment of a patient with their
// home gateway. Every change goes through the admin API; its refusals are shown as they come.
"use strict";

const $ = (id) => document.getElementById(id);
let points = [];
let me = "";

function say(id, text) { $(id).textContent = text; }
// "body.patient.id: String should ..." -> "patient.id: String should ..."
function reason(error) { return error.message.replace(/\bbody\./g, ""); }
function post(url, body, method = "POST") {
  return getJSON(url, { method, headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body) });
}
function value(form, name) { const v = form.elements[name].value.trim(); return v === "" ? null : v; }

function pointSelect(user) {
  const select = el("select", { "aria-label": t("Telemedpoint of {name}", { name: user.username }) });
  select.append(el("option", { value: "" }, t("None")));
  for (const p of points) select.append(el("option", { value: p.id }, p.name));
  select.value = user.telemedpoint_id || "";
  select.addEventListener("change", () => act(() =>
    post(`/api/admin/users/${encodeURIComponent(user.username)}/telemedpoint`,
      { telemedpoint_id: select.value || null }, "PUT"),
  t("{name} now belongs to {point}", { name: user.username,
    point: select.value ? select.selectedOptions[0].textContent : t("no telemedpoint") })));
  return select;
}

function userRow(user) {
  const row = el("tr", { "data-user": user.username, class: user.active ? "" : "disabled" });
  row.append(el("td", {}, user.username), el("td", {}, label(ROLE_LABELS, user.role)));
  const relation = el("td");
  if (user.role === "nurse") relation.append(pointSelect(user));
  else relation.textContent = user.patient_id || "–";
  row.append(relation, el("td", {}, user.active ? t("active") : t("disabled")),
    el("td", {}, String(user.live_sessions)));
  const actions = el("div", { class: "actions" });
  const name = encodeURIComponent(user.username);
  const toggle = el("button", { type: "button" }, user.active ? t("Disable") : t("Enable"));
  toggle.addEventListener("click", () => act(
    () => post(`/api/admin/users/${name}/${user.active ? "disable" : "enable"}`),
    user.active ? t("{name} is disabled; its sessions ended", { name: user.username })
      : t("{name} is enabled", { name: user.username })));
  const reset = el("button", { type: "button" }, t("Reset password"));
  reset.addEventListener("click", () => openReset(user.username, reset));
  if (user.username !== me) actions.append(toggle);  // an admin cannot disable themself
  actions.append(reset);
  const cell = el("td"); cell.append(actions); row.append(cell);
  return row;
}

async function act(call, done) {
  say("users-error", ""); say("users-status", "");
  try { await call(); say("users-status", done); } catch (e) { say("users-error", reason(e)); }
  await loadUsers();
}

let resetOpener = null;
function openReset(username, opener) {
  const form = $("reset-form");
  form.dataset.user = username; resetOpener = opener;
  say("reset-user", username);
  form.hidden = false; form.elements.password.value = "";
  form.elements.password.focus();
}
function closeReset() { $("reset-form").hidden = true; if (resetOpener) resetOpener.focus(); }

async function loadUsers() {
  const users = await getJSON("/api/admin/users");
  $("users").replaceChildren(...users.map(userRow));
  const clinicians = users.filter((u) => (u.role === "nurse" || u.role === "cardiologist") && u.active);
  const pick = $("team-user"); const chosen = pick.value;
  pick.replaceChildren(...clinicians.map((u) => el("option", { value: u.username },
    `${u.username} (${label(ROLE_LABELS, u.role)})`)));
  if (clinicians.some((u) => u.username === chosen)) pick.value = chosen;
  $("enrol-team").replaceChildren(...clinicians.map((u) => {
    const box = el("input", { type: "checkbox", name: "care_team", value: u.username });
    const item = el("label", { class: "check" }); item.append(box, ` ${u.username}`);
    return item;
  }));
  await loadCohort();
}

async function loadCohort() {
  const username = $("team-user").value;
  if (!username) { $("cohort").replaceChildren(el("li", {}, t("No clinicians yet."))); return; }
  const cohort = await getJSON(`/api/admin/users/${encodeURIComponent(username)}/patients`);
  const items = cohort.patient_ids.map((pid) => {
    const remove = el("button", { type: "button", class: "secondary" }, t("Remove"));
    remove.setAttribute("aria-label", t("Remove {patient} from {name}", { patient: pid, name: username }));
    remove.addEventListener("click", async () => {
      say("team-error", ""); say("team-status", "");
      try {
        await post(`/api/patients/${encodeURIComponent(pid)}/care-team/${encodeURIComponent(username)}`,
          undefined, "DELETE");
        say("team-status", t("{name} no longer follows {patient}", { name: username, patient: pid }));
      } catch (e) { say("team-error", reason(e)); }
      await loadCohort();
    });
    const item = el("li", {}, pid + " "); item.append(remove);
    return item;
  });
  $("cohort").replaceChildren(...(items.length ? items
    : [el("li", {}, t("{name} follows no patient yet.", { name: username }))]));
}

function wireUserForm() {
  const form = $("user-form");
  const roleChanged = () => {
    const role = form.elements.role.value;
    form.querySelector(".for-nurse").hidden = role !== "nurse";
    form.querySelector(".for-patient").hidden = role !== "patient";
  };
  form.elements.role.addEventListener("change", roleChanged); roleChanged();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const role = form.elements.role.value;
    const body = { username: form.elements.username.value.trim(), role, password: form.elements.password.value,
      telemedpoint_id: role === "nurse" ? value(form, "telemedpoint_id") : null,
      patient_id: role === "patient" ? value(form, "patient_id") : null };
    await act(async () => { await post("/api/admin/users", body); form.reset(); roleChanged(); },
      t("Account {name} added", { name: body.username }));
  });
  $("reset-cancel").addEventListener("click", closeReset);
  $("reset-form").addEventListener("keydown", (e) => { if (e.key === "Escape") closeReset(); });
  $("reset-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = $("reset-form"); const username = form.dataset.user;
    await act(() => post(`/api/admin/users/${encodeURIComponent(username)}/password`,
      { password: form.elements.password.value }),
    t("Password of {name} set; its sessions ended", { name: username }));
    if (!$("users-error").textContent) closeReset();
  });
}

function wireTeamForm() {
  $("team-user").addEventListener("change", loadCohort);
  $("team-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target; say("team-error", ""); say("team-status", "");
    const body = { username: form.elements.username.value, patient_id: form.elements.patient_id.value.trim() };
    try {
      await post("/api/care-team", body);
      say("team-status", t("{name} now follows {patient}", { name: body.username, patient: body.patient_id }));
      form.elements.patient_id.value = "";
    } catch (e) { say("team-error", reason(e)); }
    await loadCohort();
  });
}

function enrolment(form) {
  const patient = { id: form.elements.id.value.trim(), programme: form.elements.programme.value };
  for (const name of ["given_name", "family_name", "national_id", "phone", "telemedpoint_id"]) {
    patient[name] = value(form, name);
  }
  const body = { patient, gateway_id: value(form, "gateway_id"),
    care_team: [...form.querySelectorAll("input[name=care_team]:checked")].map((b) => b.value) };
  const username = value(form, "account_username");
  if (username || form.elements.account_password.value) {
    body.account = { username: username || "", password: form.elements.account_password.value };
  }
  body.devices = enrolmentDevices(form);
  return body;
}

function showEnrolled(result) {
  const box = $("enrol-result");
  box.replaceChildren(el("h3", {}, t("{name} is enrolled", { name: result.patient.display_name })));
  if (result.gateway_token) {
    box.append(el("p", {}, t("Token of gateway {id}, shown only now: copy it into the gateway's settings.", { id: result.gateway_id })),
      el("code", { class: "token", id: "gateway-token" }, result.gateway_token));
  }
  if (result.care_team.length) box.append(el("p", {}, t("Care team: {names}", { names: result.care_team.join(", ") })));
  if (result.account) box.append(el("p", {}, t("The patient signs in as {name}.", { name: result.account })));
  if (result.devices.length) {
    box.append(el("p", {}, t("Devices: {list}", { list: result.devices.map((d) => `${label(DEVICE_KIND_LABELS, d.kind)} ${d.model} (${d.device_id})`).join(", ") })));
  }
  if (result.patient.possible_duplicates.length) {
    box.append(el("p", { class: "warn" }, t("Possibly the same person as: {ids}. Check before going on.",
      { ids: result.patient.possible_duplicates.join(", ") })));
  }
  box.hidden = false; box.focus();
}

function wireEnrolForm() {
  const form = $("enrol-form");
  $("enrol-result").tabIndex = -1;
  form.addEventListener("submit", async (event) => {
    event.preventDefault(); say("enrol-error", ""); $("enrol-result").hidden = true;
    try {
      const result = await post("/api/admin/enrolments", enrolment(form));
      form.reset(); showEnrolled(result); await loadUsers();
    } catch (e) { say("enrol-error", reason(e)); }
  });
}

// Patient-id suggestions are asked for as the admin types (one audited search each), never by
// listing every patient when the page opens.
let suggestTimer = null;
function suggestPatients(input) {
  clearTimeout(suggestTimer);
  const q = input.value.trim();
  if (!q) return;
  suggestTimer = setTimeout(async () => {
    const found = await getJSON(`/api/admin/patient-search?q=${encodeURIComponent(q)}`);
    $("patient-ids").replaceChildren(...found.map((p) => el("option", { value: p.id }, p.display_name)));
  }, 250);
}

document.addEventListener("DOMContentLoaded", async () => {
  [points, { username: me }] = await Promise.all([getJSON("/api/telemedpoints"), getJSON("/api/me")]);
  for (const select of document.querySelectorAll("select.points")) {
    for (const p of points) select.append(el("option", { value: p.id }, p.name));
  }
  wireUserForm(); wireTeamForm(); wireEnrolForm(); wireDevices();
  for (const input of document.querySelectorAll("input[list=patient-ids]")) {
    input.addEventListener("input", () => suggestPatients(input));
  }
  await loadUsers();
  document.body.dataset.ready = "1";
});
