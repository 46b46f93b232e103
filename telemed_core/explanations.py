"""Why a finding or an alert fired, as a key and its values, rendered in the reader's language.

Producers (the signal library, the alert engine) store a **key** of :data:`TEMPLATES` and the
**arguments** it names, beside the English sentence they always stored (``explanation`` of a
finding, ``why`` of an alert: other tools read those, so they stay). The screens and the report
render the key through the gettext catalogue (the English template is the msgid), so a Czech
nurse reads Czech. How an argument is shown follows its name:

* ``kind`` or ``*_kind``: a measurement kind, shown by its name in :data:`KIND_NAMES`;
* ``*_text``: a fixed English phrase (a msgid), translated as a whole;
* ``*_date``: an ISO date; ``*_at``: an ISO date-time (shown in the reader's local form);
* ``*_note``: an optional clause, itself a key and values (:func:`note`), or None for none;
* numbers: locale-formatted (``4,5`` in Czech), already rounded by the producer;
* anything else: shown as it is (a device id, a lead name, a comparison sign).
"""

from __future__ import annotations

from typing import Any

#: key -> English template (the catalogue's msgid). A variant of a sentence is its own key, so a
#: translation never has to assemble fragments.
TEMPLATES: dict[str, str] = {
    # signal library findings
    "af": "Irregularly irregular RR intervals for {duration_s} s, mean ventricular rate "
    "{hr_bpm} bpm.",
    "af_ongoing": "Irregularly irregular RR intervals for {duration_s} s (ongoing), mean "
    "ventricular rate {hr_bpm} bpm.",
    "baseline_above": "{kind} {value} is {z} robust SD above this patient's median of {median} "
    "({n} values since {since_date}).",
    "baseline_below": "{kind} {value} is {z} robust SD below this patient's median of {median} "
    "({n} values since {since_date}).",
    "pause": "No beat for {pause_s} s (pause).",
    "pause_ongoing": "No beat for {pause_s} s (pause), still without a beat.",
    "asystole": "No beat for {pause_s} s (asystole).",
    "asystole_ongoing": "No beat for {pause_s} s (asystole), still without a beat.",
    "bradycardia": "Bradycardia for {duration_s} s, lowest averaged HR {hr_bpm} bpm (limit "
    "{limit_bpm} bpm).",
    "bradycardia_ongoing": "Bradycardia for {duration_s} s (ongoing), lowest averaged HR "
    "{hr_bpm} bpm (limit {limit_bpm} bpm).",
    "tachycardia": "Tachycardia for {duration_s} s, highest averaged HR {hr_bpm} bpm (limit "
    "{limit_bpm} bpm).",
    "tachycardia_ongoing": "Tachycardia for {duration_s} s (ongoing), highest averaged HR "
    "{hr_bpm} bpm (limit {limit_bpm} bpm).",
    "news2": "NEWS2 {total} ({risk_text} risk). {response_text}",
    "news2_red": "NEWS2 {total} ({risk_text} risk, a single parameter scores 3). {response_text}",
    "news2_assumed": "NEWS2 {total} ({risk_text} risk). {response_text} (assumed: {assumed})",
    "news2_red_assumed": "NEWS2 {total} ({risk_text} risk, a single parameter scores 3). "
    "{response_text} (assumed: {assumed})",
    "spo2_desaturation": "SpO2 fell from a baseline of {baseline_pct} % to {nadir_pct} % for "
    "{duration_s} s.",
    "spo2_desaturation_lost": "SpO2 fell from a baseline of {baseline_pct} % to {nadir_pct} % "
    "for {duration_s} s (recovery not seen: signal lost).",
    "spo2_low": "SpO2 below {threshold_pct} % for {duration_s} s (ended), lowest {nadir_pct} %.",
    "spo2_low_ongoing": "SpO2 below {threshold_pct} % for {duration_s} s (ongoing), lowest "
    "{nadir_pct} %.",
    "weight_gain": "Weight {weight_kg} kg, up {gain_kg} kg from {reference_kg} kg on "
    "{reference_date}.",
    "home_bp": "Home BP average {sbp_mmhg}/{dbp_mmhg} mmHg over {n} readings ({first_date} to "
    "{last_date}), at or above {sbp_limit}/{dbp_limit} mmHg.",
    "crisis_confirmed": "Crisis-range BP confirmed by {n} readings, highest {sbp_mmhg}/"
    "{dbp_mmhg} mmHg.",
    "crisis_repeat_lower": "Single crisis-range BP {sbp_mmhg}/{dbp_mmhg} mmHg, not confirmed by "
    "the repeat below the thresholds.",
    "crisis_unconfirmed": "Single crisis-range BP {sbp_mmhg}/{dbp_mmhg} mmHg, unconfirmed: a "
    "repeat measurement is needed.",
    "missed_slot": "No {measurement_kind} measurement received for the slot due {due_at}.",
    "strip_af": "{seconds} s ECG strip (lead {lead}): atrial fibrillation.",
    "strip_other": "{seconds} s ECG strip (lead {lead}): a rhythm other than normal sinus rhythm "
    "or AF.",
    "strip_noisy": "{seconds} s ECG strip (lead {lead}): too noisy to classify: repeat the "
    "recording.",
    "strip_normal": "{seconds} s ECG strip (lead {lead}): normal sinus rhythm.",
    # alert engine: raw-reading limits
    "limit_breach": "{kind} {op} {trigger} {unit} for {duration_s} s (persistence "
    "{persistence_s} s)",
    "limit_rapid": "{kind} {value} {unit} {op} rapid limit {limit}",
    "limit_clear": "{kind} {value} {unit} {op} clear level {clear}",
    # technical alarms, adherence, escalation
    "battery_low": "{device_id} battery at {battery_pct} % (below {limit_pct} %)",
    "battery_ok": "{device_id} battery at {battery_pct} %",
    "device_heard": "{device_id} heard again",
    "device_silent": "{device_id} silent for {silent_min} min (limit {limit_min} min)",
    "no_data": "no data since {last_at} (limit {limit_h} h)",
    "kiosk_silent": "kiosk {bridge_id} of {point} silent since {last_at}",
    "missed_in_a_row": "{misses} missed {measurement_kind} measurements in a row (last due "
    "{due_at}, grace {grace_min} min; the patient was reminded each time)",
    "undelivered": "alert {alert_id} ({title_text}) reached no screen after its whole chain",
    # bedside lethal-arrhythmia rules (telemed_signal/lethal_*.py) and their optional clauses
    "lethal_asystole": "No QRS for {pause_s} s in {leads}{ongoing_note}{tolerance_note}"
    "{pulse_note}",
    "lethal_bradycardia": "Heart rate {hr_bpm} bpm over {beats} beats ({from_s}-{to_s} s) in "
    "{leads} ({limit_note}).",
    "lethal_tachycardia": "Heart rate {hr_bpm} bpm over {beats} beats ({from_s}-{to_s} s), the "
    "quality-weighted median of {channel_rates} (limit {limit_bpm} bpm{within_note}).",
    "lethal_vt": "{beats} consecutive beats unlike the dominant QRS in {lead} (correlation "
    "{corr}, equivalent width {width_ms} ms) at {hr_bpm} bpm ({from_s}-{to_s} s).",
    "lethal_vf": "Fibrillatory waveform in {lead} for {duration_s} s (VF-filter leakage "
    "{leakage}, threshold-crossing count {tcsc}, dominant {dominant_hz} Hz){pulse_note}",
    "note_ongoing": " (ongoing)",
    "note_asystole_tolerance": " (limit {limit_s} s less {tolerance_s} s for beat timing)",
    "note_no_pulse": "; no pulse wave in {channels} either.",
    "note_no_usable_pulse": "; no usable pulse waveform to confirm.",
    "note_end": ".",
    "note_limit": "limit {limit_bpm} bpm",
    "note_limit_tolerance": "limit {limit_bpm} bpm, within the {tolerance_pct} % beat-timing "
    "tolerance",
    "note_within_tolerance": ", within the {tolerance_pct} % tolerance",
}

#: Measurement kinds as a word inside a sentence (msgids of the catalogue).
KIND_NAMES: dict[str, str] = {
    "heart_rate": "heart rate",
    "pulse_rate": "pulse rate",
    "spo2": "SpO2",
    "bp_systolic": "systolic BP",
    "bp_diastolic": "diastolic BP",
    "bp_mean": "mean BP",
    "body_weight": "weight",
    "body_temperature": "temperature",
    "respiratory_rate": "respiratory rate",
    "glucose": "glucose",
    "battery_level": "battery",
}


def _english(name: str, value: Any) -> str:
    if name.endswith("_note"):
        return english(value["key"], value.get("args") or {}) if value else ""
    if value is None:
        return "–"
    if name == "kind" or name.endswith("_kind"):
        return KIND_NAMES.get(str(value), str(value).replace("_", " "))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def english(key: str, args: dict[str, Any]) -> str:
    """The English sentence of ``key`` with ``args`` (what ``explanation`` and ``why`` store)."""
    names = {k: _english(k, v) for k, v in args.items()}
    text = TEMPLATES[key].format_map(names)
    return text[:1].upper() + text[1:] if TEMPLATES[key].startswith("{kind}") else text


def explained(key: str, **args: Any) -> dict[str, Any]:
    """``explanation``, ``explanation_key`` and ``explanation_args`` of a finding, e.g.
    ``Finding(..., **explained("pause", pause_s=3.2))``. Unknown keys and missing arguments
    raise (KeyError) in the producer's tests, not on a screen."""
    return {"explanation": english(key, args), "explanation_key": key, "explanation_args": args}


def note(key: str, **args: Any) -> dict[str, Any]:
    """An optional clause for a ``*_note`` argument: ``note("note_ongoing")``."""
    return {"key": key, "args": args}


def why(key: str, **args: Any) -> dict[str, Any]:
    """``why``, ``why_key`` and ``why_args`` of an alert trigger's detail."""
    return {"why": english(key, args), "why_key": key, "why_args": args}
