// The admin's device registry: the device rows of the enrolment form, and a patient's devices
// (list, add, retire) over /api/patients/{id}/devices and /api/admin/devices. Uses admin.js.
"use strict";

const DEVICE_KINDS = Object.keys(DEVICE_KIND_LABELS);
let deviceRowCount = 0;

// One device's labelled fields; `n` keeps the names of several rows apart.
function deviceFields(n) {
  const row = el("div", { class: "device-row", "data-row": String(n) });
  const kind = el("select", { name: `device_kind_${n}` });
  kind.append(el("option", { value: "" }, t("Kind…")),
    ...DEVICE_KINDS.map((k) => el("option", { value: k }, label(DEVICE_KIND_LABELS, k))));
  const field = (text, name, attrs = {}) => {
    const box = el("label", {}, t(text));
    box.append(el("input", { name: `${name}_${n}`, autocomplete: "off", ...attrs }));
    return box;
  };
  const kindLabel = el("label", {}, t("Kind")); kindLabel.append(kind);
  row.append(kindLabel, field("Model", "device_model", { maxlength: "100", placeholder: "Omron M7" }),
    field("Device id", "device_id", { maxlength: "64", placeholder: "omron-7361" }),
    field("Serial number", "device_serial", { maxlength: "100" }),
    field("BLE address", "device_ble", { maxlength: "17", placeholder: "A4:C1:38:2F:9B:10" }));
  return row;
}

function deviceFrom(form, n) {
  const get = (name) => value(form, `${name}_${n}`);
  const kind = form.elements[`device_kind_${n}`].value;
  const body = { kind, model: get("device_model"), device_id: get("device_id"), serial: get("device_serial"), ble_address: get("device_ble") };
  return Object.values(body).some((v) => v) ? body : null;  // an untouched row is no device
}

// The enrolment form's devices (enrolment() in admin.js adds them to the body).
function enrolmentDevices(form) {
  return [...form.querySelectorAll(".device-row")].map((r) => deviceFrom(form, r.dataset.row)).filter(Boolean);
}

function addEnrolmentRow() { $("enrol-devices").append(deviceFields(++deviceRowCount)); }

let devicesOf = null;  // the patient whose devices are shown

function deviceRow(d) {
  const tr = el("tr", { "data-device": d.device_id });
  tr.append(el("td", {}, `${label(DEVICE_KIND_LABELS, d.kind)} ${d.model} (${d.device_id})`),
    el("td", {}, [d.serial, d.ble_address].filter(Boolean).join(" · ") || "–"),
    el("td", {}, d.gateway_id || "–"),
    el("td", {}, t("{who}, {when}", { who: d.enrolled_by, when: localTime(d.enrolled_at) })),
    el("td", {}, d.last_data_at ? ago(d.last_data_at) : t("no data received yet")));
  const retire = el("button", { type: "button", class: "secondary" }, t("Retire"));
  retire.setAttribute("aria-label", t("Retire {device}", { device: d.device_id }));
  retire.addEventListener("click", async () => {
    say("devices-error", ""); say("devices-status", "");
    try {
      await post(`/api/admin/devices/${encodeURIComponent(d.device_id)}/retire`, {});
      say("devices-status", t("{device} retired.", { device: d.device_id }));
      await showDevices(devicesOf);
    } catch (e) { say("devices-error", reason(e)); }
  });
  const actions = el("td", { class: "actions" }); actions.append(retire); tr.append(actions);
  return tr;
}

async function showDevices(patientId) {
  const list = await getJSON(`/api/patients/${encodeURIComponent(patientId)}/devices`);
  devicesOf = patientId;
  $("device-rows").replaceChildren(...list.map(deviceRow));
  if (!list.length) {
    const tr = el("tr"); tr.append(el("td", { colspan: "6" }, t("No registered device."))); $("device-rows").append(tr);
  }
  $("device-form").hidden = false;
}

function wireDevices() {
  $("enrol-add-device").addEventListener("click", addEnrolmentRow);
  addEnrolmentRow();
  $("device-fields").append(deviceFields(0));
  $("devices-show").addEventListener("submit", async (event) => {
    event.preventDefault(); say("devices-error", ""); say("devices-status", "");
    const id = value(event.target, "patient_id");
    if (!id) { say("devices-error", t("Give a patient id.")); return; }
    try { await showDevices(id); } catch (e) { say("devices-error", reason(e)); }
  });
  $("device-form").addEventListener("submit", async (event) => {
    event.preventDefault(); say("devices-error", ""); say("devices-status", "");
    const form = event.target;
    const device = deviceFrom(form, 0);
    if (!device || !device.kind || !device.model || !device.device_id) {
      say("devices-error", t("A device needs a kind, a model and its device id.")); return;
    }
    try {
      await post("/api/admin/devices", { ...device, patient_id: devicesOf, gateway_id: value(form, "gateway_id") });
      form.reset(); say("devices-status", t("{device} added.", { device: device.device_id }));
      await showDevices(devicesOf);
    } catch (e) { say("devices-error", reason(e)); }
  });
}
