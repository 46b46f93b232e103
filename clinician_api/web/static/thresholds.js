// The patient's alert thresholds with their provenance, and the clinician's editor over
// /api/patients/{id}/alert-policy (who, when, why, optional expiry). Uses PATIENT (patient.js).
"use strict";

const LIMIT_NUMBER = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1 });

const PARAMETER_LABELS = { trigger: "Alert level", clear: "Clear level", persistence_s: "Delay (s)", rapid: "Immediate limit" };

function limitText(value, unit) { return value === null ? "–" : `${LIMIT_NUMBER.format(value)} ${unit}`; }

function provenanceText(p) {
  if (p.source === "programme default") return t("Programme default");
  const parts = [t("{who}, {when}", { who: p.set_by, when: localTime(p.set_at) }), p.reason];
  if (p.expires_at) parts.push(t("until {when}", { when: localTime(p.expires_at) }));
  return parts.join(" · ");
}

// Each value carries its own provenance: a changed one says who, when, why and until when
// under it; the last column says which values are still the programme's.
function limitCell(rule, parameter, text) {
  const p = rule.parameters[parameter].provenance;
  const cell = el("td", { "data-parameter": parameter, class: p.source === "programme default" ? "default" : "override" }, text);
  if (p.source !== "programme default") cell.append(el("small", { class: "provenance" }, provenanceText(p)));
  return cell;
}

function limitRow(rule) {
  const row = el("tr", { "data-rule": rule.rule });
  const sign = rule.direction === "below" ? "<" : ">";
  const changed = Object.values(rule.parameters).some((v) => v.provenance.source !== "programme default");
  row.append(el("th", { scope: "row" }, t(rule.title)),
    limitCell(rule, "trigger", `${sign} ${limitText(rule.trigger, rule.unit)}`),
    limitCell(rule, "clear", limitText(rule.clear, rule.unit)),
    limitCell(rule, "persistence_s", t("{s} s", { s: number(rule.persistence_s) })),
    limitCell(rule, "rapid", rule.rapid === null ? "–" : `${sign} ${limitText(rule.rapid, rule.unit)}`),
    el("td", { class: "default" },
      changed ? t("Other values: programme default") : t("Programme default")));
  return row;
}

async function loadLimits() {
  const policy = await getJSON(`/api/patients/${encodeURIComponent(PATIENT)}/alert-policy`);
  const rules = policy.reading_rules;
  const body = document.getElementById("limits");
  body.replaceChildren(...(rules.length ? rules.map(limitRow)
    : [el("tr", {}, "")]));
  if (!rules.length) {
    body.firstChild.append(el("td", { colspan: "6" }, t("This programme has no limits on raw readings.")));
  }
  document.getElementById("limit-form").hidden = !rules.length;
  const pick = document.getElementById("limit-rule"); const chosen = pick.value;
  pick.replaceChildren(...rules.map((r) => el("option", { value: r.rule }, t(r.title))));
  if (chosen) pick.value = chosen;
  document.getElementById("limit-history").replaceChildren(...policy.history.slice().reverse().map((h) => {
    const title = rules.find((r) => r.rule === h.rule)?.title || h.rule;
    const item = el("li", {}, `${t(title)} · ${label(PARAMETER_LABELS, h.parameter)} = ${LIMIT_NUMBER.format(h.value)}`);
    item.append(el("p", { class: "when" }, provenanceText({ ...h, source: "clinician override" })));
    return item;
  }));
  document.getElementById("limits-card").dataset.ready = "1";
}

function wireLimitForm() {
  const form = document.getElementById("limit-form");
  const error = document.getElementById("limit-error"); const status = document.getElementById("limit-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault(); error.textContent = ""; status.textContent = "";
    const raw = form.elements.value.value.trim(); const reason = form.elements.reason.value.trim();
    if (raw === "" || Number.isNaN(Number(raw))) { error.textContent = t("Give the new value as a number."); return; }
    if (!reason) { error.textContent = t("Say why the threshold changes."); return; }
    const until = form.elements.expires_at.value;
    const body = { rule: form.elements.rule.value, parameter: form.elements.parameter.value,
      value: Number(raw), reason, expires_at: until ? new Date(until).toISOString() : null };
    try {
      await getJSON(`/api/patients/${encodeURIComponent(PATIENT)}/alert-policy`, { method: "POST",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      form.elements.value.value = ""; form.elements.reason.value = "";
      const expiry = form.elements.expires_at;
      if (expiry._flatpickr) expiry._flatpickr.clear(); else expiry.value = "";
      status.textContent = t("Saved; the alert engine uses it within 30 s.");
    } catch (e) { error.textContent = e.message.replace(/\bbody\./g, ""); }
    await loadLimits();
  });
}

document.addEventListener("DOMContentLoaded", () => { wireLimitForm(); loadLimits(); });
