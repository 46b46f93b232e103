"""The nurse's visit: check-in, guided steps, device or manual measurements, confirmation of
abnormal values, the ECG strip, local alerts, teleconsultation requests.

Order of writes: what goes to the hub is appended to the durable outbox first, then the
kiosk's own record; a crash in between at worst leaves the kiosk's screen one step behind (a
registration sent twice is merged by the hub, not duplicated).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from device_bridge.outbox import Outbox
from telemed_core.birth_number import parse_birth_number
from telemed_core.errors import Conflict, InvalidInput, NotFound
from telemed_core.kinds import unit_of
from telemed_core.kiosk_items import ConsultRequest, PatientRegistration
from telemed_core.values import STRIP_S, utc_now
from telemed_signal.strip import classify_strip
from telemedpoint_kiosk import rules
from telemedpoint_kiosk.devices import DeviceProblem, KioskDevices
from telemedpoint_kiosk.protocols import PROTOCOLS, RHYTHMS, STEPS, Step, check_plausible
from telemedpoint_kiosk.store import Alert, Consult, KioskStore, Measurement, PatientRecord, Visit

MANUAL_DEVICE = "kiosk-manual-entry"
#: Values a nurse may type that are not sent as readings (no measurement kind on the hub).
LOCAL_ONLY = {"consciousness"}


@dataclass(frozen=True)
class StepState:
    step: Step
    measurements: list[Measurement]
    status: str  # todo | confirm (an abnormal value awaits its repeat) | done | skipped

    @property
    def counted(self) -> Measurement | None:
        usable = [m for m in self.measurements if m.usable]
        return usable[-1] if self.status == "done" and usable else None


def step_status(step: Step, ms: list[Measurement], skipped: dict[str, str]) -> str:
    usable = [m for m in ms if m.usable]
    if step.name in skipped and not usable:
        return "skipped"
    if step.confirm and usable and usable[-1].abnormal:
        if len(usable) < 2 or not usable[-2].abnormal:
            return "confirm"
    return "done" if len(usable) >= step.repeats else "todo"


class VisitService:
    """Everything a visit does, over the kiosk store, the bridge outbox and the devices."""

    def __init__(
        self, store: KioskStore, outbox: Outbox, devices: KioskDevices, **opts: float
    ) -> None:
        self.store, self.outbox, self.devices = store, outbox, devices
        self.strip_s = opts.get("strip_s", 30.0)
        self.measure_timeout_s = opts.get("measure_timeout_s", 90.0)

    # -- check-in --------------------------------------------------------------------------

    def register(self, form: dict[str, str], nurse: str) -> PatientRecord:
        """Validate and register a patient (sent to the hub through the outbox)."""
        if form.get("consent") != "yes":
            raise InvalidInput("consent: the patient's consent must be recorded first")
        national_id = form.get("national_id", "").strip() or None
        born = _birth_date(form.get("birth_date", ""))
        if national_id is not None:
            try:
                number = parse_birth_number(national_id)
            except InvalidInput as exc:
                raise InvalidInput(f"national_id: {exc.message}") from None
            if number.birth_date != born:
                raise InvalidInput(
                    f"national_id: the birth number encodes {number.birth_date:%d.%m.%Y}, "
                    f"not the birth date given ({born:%d.%m.%Y})"
                )
            existing = self.store.patient_by_national_id(number.normalized)
            if existing is not None:
                raise Conflict(f"national_id: already registered as {existing.name}")
        now = utc_now()
        try:
            reg = PatientRegistration(
                seq=1, patient_id=f"kp-{uuid.uuid4().hex[:16]}",
                family_name=form.get("family_name", "").strip(), given_name=form.get("given_name", "").strip(),
                birth_date=born, sex=form.get("sex") or "unknown", national_id=national_id,
                insurer=form.get("insurer") or None, phone=form.get("phone") or None,
                treating_doctor=form.get("treating_doctor") or None, consent_at=now,
                id_checked=form.get("id_checked") == "yes", registered_at=now, registered_by=nurse,
            )  # fmt: skip
        except ValueError as exc:
            raise InvalidInput(_first_error(exc)) from None
        self.outbox.append([("patient", reg.model_dump(mode="json", exclude={"seq"}))])
        record = PatientRecord(
            reg.patient_id, reg.family_name, reg.given_name, born.isoformat(), reg.national_id,
            reg.sex, reg.insurer, reg.phone, reg.treating_doctor, "kiosk", now.isoformat(),
        )  # fmt: skip
        self.store.save_patient(record)
        return record

    def start(self, patient_id: str, protocol: str, symptoms: list[str], nurse: str) -> Visit:
        if self.store.patient(patient_id) is None:
            raise NotFound(f"no patient {patient_id}")
        if protocol not in PROTOCOLS:
            raise InvalidInput(f"protocol: one of {sorted(PROTOCOLS)}")
        unknown = set(symptoms) - set(rules.RED_FLAG_SYMPTOMS)
        if unknown:
            raise InvalidInput(f"symptoms: unknown {sorted(unknown)}")
        visit = Visit(f"v-{uuid.uuid4().hex[:16]}", patient_id, protocol, nurse, symptoms,
                      utc_now(), None, {})  # fmt: skip
        self.store.add_visit(visit)
        return visit

    # -- the guided steps ------------------------------------------------------------------

    def visit(self, visit_id: str) -> Visit:
        found = self.store.visit(visit_id)
        if found is None:
            raise NotFound(f"no visit {visit_id}")
        return found

    def steps(self, visit: Visit) -> list[StepState]:
        ms = self.store.measurements(visit.id)
        states = []
        for name in PROTOCOLS[visit.protocol]:
            mine = [m for m in ms if m.step == name]
            states.append(
                StepState(STEPS[name], mine, step_status(STEPS[name], mine, visit.skipped))
            )
        return states

    def current(self, visit: Visit) -> StepState | None:
        return next((s for s in self.steps(visit) if s.status in ("todo", "confirm")), None)

    async def measure(self, visit: Visit, step_name: str) -> Measurement:
        """Take the step's measurement from its device; a failing device raises DeviceProblem."""
        step = self._open_step(visit, step_name)
        assert step.device is not None
        readings = await self.devices.measure(step.device, visit.patient_id, self.measure_timeout_s)
        values = {r["kind"]: r["value"] for r in readings if r["value"] is not None}
        invalid = [r for r in readings if "invalid" in r["flags"]]
        note = (
            ""
            if not invalid
            else "impossible:" + ",".join(f"{r['kind']}={r['value']:g}" for r in invalid)
        )
        return self._record(
            visit, step, values, "device", readings[0]["device_id"], usable=not invalid, note=note
        )

    def enter_manually(self, visit: Visit, step_name: str, form: dict[str, str]) -> Measurement:
        """A value typed by the nurse (device failed), flagged ``manual`` on its way to the hub."""
        step = self._open_step(visit, step_name)
        values = _numbers(step, form)
        check_plausible(step, values)
        now = utc_now()
        items = [
            ("reading", {"patient_id": visit.patient_id, "device_id": MANUAL_DEVICE, "kind": kind,
                         "value": value, "unit": unit_of(kind), "measured_at": now.isoformat(),
                         "device_time": None, "received_at": now.isoformat(), "flags": ["manual"]})
            for kind, value in values.items() if kind not in LOCAL_ONLY
        ]  # fmt: skip
        if items:
            self.outbox.append(items)  # type: ignore[arg-type]
        return self._record(visit, step, values, "manual", MANUAL_DEVICE, usable=True)

    async def record_ecg(self, visit: Visit) -> Measurement:
        """Record and classify the strip; store it (a partial strip of >= 9 s too) as one chunk."""
        step = self._open_step(visit, "ecg")
        try:
            rec = await self.devices.record_ecg(self.strip_s, self.measure_timeout_s)
        except DeviceProblem as problem:
            fs = 130.0
            if len(problem.partial) >= STRIP_S[0] * fs:
                self._append_strip(visit, problem.partial, fs, utc_now())
            note = f"{problem.code}:{len(problem.partial) / fs:.0f}"
            return self._record(visit, step, {}, "device", None, usable=False, note=note)
        rhythm = classify_strip(np.asarray(rec.samples_uv, dtype=float) / 1000.0, rec.fs_hz)
        self._append_strip(visit, rec.samples_uv, rec.fs_hz, rec.started_at)
        values = {
            "rhythm": float(RHYTHMS.index(rhythm)),
            "duration_s": len(rec.samples_uv) / rec.fs_hz,
        }
        device = self.devices.device("polar_h10").device_id
        return self._record(visit, step, values, "device", device, usable=rhythm != "noisy",
                            note="noisy" if rhythm == "noisy" else "")  # fmt: skip

    def skip(self, visit: Visit, step_name: str, reason: str) -> None:
        self._open_step(visit, step_name)
        if not reason.strip():
            raise InvalidInput("reason: say why the step is skipped")
        self.store.skip_step(visit.id, step_name, reason.strip()[:200])

    def _append_strip(self, visit: Visit, samples: list[int], fs: float, start: datetime) -> None:
        device = self.devices.device("polar_h10").device_id
        chunk = {"patient_id": visit.patient_id, "device_id": device, "kind": "ecg", "lead": "I",
                 "unit": "uV", "fs_hz": fs, "start": start.isoformat(), "samples": samples,
                 "flags": ["strip"]}  # fmt: skip
        self.outbox.append([("chunk", chunk)])

    def _open_step(self, visit: Visit, step_name: str) -> Step:
        if visit.ended_at is not None:
            raise Conflict("the visit is finished")
        if step_name not in PROTOCOLS[visit.protocol]:
            raise NotFound(f"no step {step_name} in the {visit.protocol} protocol")
        return STEPS[step_name]

    def _record(self, visit: Visit, step: Step, values: dict[str, float], source: str,
                device_id: str | None, *, usable: bool, note: str = "") -> Measurement:  # fmt: skip
        abnormal = usable and step.abnormal(values)
        m = Measurement(
            0, visit.id, step.name, values, source, device_id, utc_now(), abnormal, usable, note
        )
        self.store.add_measurement(m)
        self._alerts(visit)
        return m

    # -- alerts, consults, the end ---------------------------------------------------------

    def _alerts(self, visit: Visit) -> None:
        for alert in rules.evaluate(visit, self.store.measurements(visit.id)):
            self.store.raise_alert(
                Alert(visit.id, alert.rule, alert.level, alert.message, utc_now(), None, None)
            )

    def acknowledge(self, visit: Visit, rule: str, action: str) -> None:
        if not any(a.rule == rule for a in self.store.alerts(visit.id)):
            raise NotFound(f"no alert {rule} on this visit")
        self.store.acknowledge_alert(visit.id, rule, action[:200] or "acknowledged", utc_now())

    def request_consult(
        self, visit: Visit, form: dict[str, str], nurse: str, summary: str
    ) -> Consult:
        now = utc_now()
        try:
            req = ConsultRequest(
                seq=1, request_id=f"c-{uuid.uuid4().hex[:16]}", patient_id=visit.patient_id,
                addressee=form.get("addressee", ""),
                reason=form.get("reason", "").strip(), video_url=form.get("video_url") or None,
                visit_id=visit.id, visit_started_at=visit.started_at, visit_ended_at=visit.ended_at or now,
                summary=summary[:4000], requested_by=nurse, requested_at=now,
            )  # fmt: skip
        except ValueError as exc:
            raise InvalidInput(_first_error(exc)) from None
        self.outbox.append([("consult", req.model_dump(mode="json", exclude={"seq"}))])
        consult = Consult(req.request_id, visit.id, req.addressee, req.reason, req.video_url, now)
        self.store.add_consult(consult)
        return consult

    def finish(self, visit: Visit) -> None:
        self.store.end_visit(visit.id, utc_now())


def _birth_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("birth_date: a date is required (YYYY-MM-DD)") from None


def _numbers(step: Step, form: dict[str, str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for spec in step.fields:
        raw = form.get(spec.name, "").strip().replace(",", ".")
        if not raw:
            continue
        try:
            values[spec.name] = float(raw)
        except ValueError:
            raise InvalidInput(f"{spec.name}: {raw!r} is not a number") from None
    return values


def _first_error(exc: ValueError) -> str:
    errors: Any = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg'].removeprefix('Value error, ')}"
    return str(exc)
