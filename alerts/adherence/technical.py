"""Technical alarms: battery low, device offline, no data, kiosk offline (never commits).

The worker records when each (patient, device) was last heard and its battery level
(``DeviceHeartbeat``, one row per device, updated per batch). Battery low comes from the GATT
battery level as it arrives; the silence alarms come from ``sweep``, run periodically by the
worker's timer loop. Inhibition: an open device-offline or kiosk-offline alarm of a patient
inhibits that patient's no-data alarm (one cause, one alarm).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.adherence import repository as repo
from alerts.engine.conditions import Trigger
from alerts.episodes import repository as episodes_repo
from alerts.episodes import service as episodes
from alerts.episodes.models import AlertEpisode
from alerts.policy.rules import Category, Priority
from telemed_core.explanations import why as explain_why


@dataclass(frozen=True, slots=True)
class TechnicalLimits:
    """When silence or a battery level becomes an alarm (§5.6: no data 48 h; kiosk 15 min)."""

    battery_low_pct: float = 20.0
    battery_clear_pct: float = 30.0
    device_offline_s: float = 600.0
    no_data_s: float = 48 * 3600.0
    kiosk_offline_s: float = 900.0


LIMITS = TechnicalLimits()
#: Kinds a streaming device sends every second or so.
STREAMING_KINDS = frozenset({"heart_rate", "spo2", "pulse_rate", "rr_interval", "respiratory_rate"})
TITLES = {
    "battery_low": "Battery low",
    "device_offline": "Device offline",
    "no_data": "No data",
    "kiosk_offline": "Telemedpoint offline",
}


def technical_trigger(
    patient_id: str,
    rule: str,
    action: str,
    at: datetime,
    evidence: str,
    why: dict[str, Any],
    values: dict[str, Any],
    priority: Priority = Priority.LOW,
) -> Trigger:
    return Trigger(
        patient_id=patient_id,
        rule=rule,
        title=TITLES.get(rule, rule),
        action="raise" if action == "raise" else "clear",
        at=at,
        priority=priority,
        category=Category.TECHNICAL,
        evidence_key=evidence,
        source_kind=rule,
        values=values,
        detail={**why, "rule": rule},  # why, why_key, why_args (telemed_core.explanations)
    )


class HeardCache:
    """When each device's liveness was last written: a device streaming every second is
    written at most every ``every_s`` (the silence limits are minutes), so liveness costs
    the hot path almost nothing. A battery level is always written.

    Devices first heard together (a hub restart, a kiosk of 500 patients) would come due
    together every ``every_s`` ever after: 5,000 rows in one flush, holding the writer while
    every page waited. So a device's first write counts as made up to ``every_s`` earlier, by
    a fixed fraction of its own (``_phase``): the second and later writes spread evenly over
    the interval, and none comes later than ``every_s`` after the one before."""

    def __init__(self, every_s: float = 30.0) -> None:
        self.every_s = every_s
        self._written: dict[tuple[str, str], datetime] = {}

    def due(self, key: tuple[str, str], at: datetime) -> bool:
        last = self._written.get(key)
        if last is None:
            self._written[key] = at - timedelta(seconds=self.every_s * _phase(key))
            return True
        if abs((at - last).total_seconds()) < self.every_s:
            return False
        self._written[key] = at
        return True


def _phase(key: tuple[str, str]) -> float:
    """A fixed fraction in [0, 1) per device (the same in every process and run)."""
    return zlib.crc32("\x1f".join(key).encode()) / 2**32


def heard_devices(
    payload: dict[str, Any], cache: HeardCache | None = None
) -> list[tuple[str, str, _Heard]]:
    """(patient, device, what was heard) of one readings batch that is worth writing: every
    battery level, and liveness at most every ``cache.every_s`` per device (pure)."""
    latest: dict[tuple[str, str], _Heard] = {}
    for r in payload.get("readings", []):
        if "derived" in r.get("flags", ()):
            continue
        heard = latest.setdefault((r["patient_id"], r["device_id"]), _Heard())
        heard.take(r, payload.get("bridge_id", ""))
    out = []
    for (patient_id, device_id), h in latest.items():
        assert h.at is not None
        if cache is not None and h.battery is None and not cache.due((patient_id, device_id), h.at):
            continue
        out.append((patient_id, device_id, h))
    return out


async def record_heard(
    session: AsyncSession,
    devices: list[tuple[str, str, _Heard]],
    limits: TechnicalLimits = LIMITS,
) -> list[AlertEpisode]:
    """Write liveness and battery; raise or clear battery low and the device's offline alarm."""
    rows = []
    for patient_id, device_id, h in devices:
        assert h.at is not None
        rows.append(repo.Heard(patient_id, device_id, h.bridge_id, h.at, h.battery, h.streaming))
    await repo.heard(session, rows)
    changed: list[AlertEpisode] = []
    for row in rows:
        changed += await _battery(
            session, row.patient_id, row.device_id, row.at, row.battery_pct, limits
        )
    return changed + await _back_online(session, rows)


async def take_readings(
    session: AsyncSession,
    payload: dict[str, Any],
    now: datetime,
    limits: TechnicalLimits = LIMITS,
    cache: HeardCache | None = None,
) -> list[AlertEpisode]:
    """``heard_devices`` then ``record_heard`` in one go."""
    return await record_heard(session, heard_devices(payload, cache), limits)


def merge_heard(devices: list[tuple[str, str, _Heard]]) -> list[tuple[str, str, _Heard]]:
    """One entry per device: the latest time and bridge, the last battery level, streaming if
    ever (what a flush that could not be written keeps, so a long outage stays bounded)."""
    merged: dict[tuple[str, str], _Heard] = {}
    for patient_id, device_id, h in devices:
        prev = merged.get((patient_id, device_id))
        if prev is None or prev.at is None or h.at is None:
            merged[(patient_id, device_id)] = h
            continue
        latest = h if h.at >= prev.at else prev
        battery = h.battery if h.battery is not None else prev.battery
        streaming = h.streaming or prev.streaming
        merged[(patient_id, device_id)] = _Heard(latest.at, latest.bridge_id, battery, streaming)
    return [(p, d, h) for (p, d), h in merged.items()]


@dataclass
class _Heard:
    """What one batch says about one device."""

    at: datetime | None = None
    bridge_id: str = ""
    battery: float | None = None
    streaming: bool = False

    def take(self, r: dict[str, Any], batch_bridge: str) -> None:
        at = datetime.fromisoformat(r.get("received_at") or r["measured_at"])
        if self.at is None or at >= self.at:
            self.at, self.bridge_id = at, r.get("bridge_id") or batch_bridge
        if r["kind"] == "battery_level" and r["value"] is not None:
            self.battery = float(r["value"])
        self.streaming |= r["kind"] in STREAMING_KINDS


async def _battery(
    session: AsyncSession,
    patient_id: str,
    device_id: str,
    at: datetime,
    battery: float | None,
    limits: TechnicalLimits,
) -> list[AlertEpisode]:
    if battery is None:
        return []
    if battery < limits.battery_low_pct:
        why = explain_why(
            "battery_low",
            device_id=device_id,
            battery_pct=battery,
            limit_pct=limits.battery_low_pct,
        )
        t = technical_trigger(
            patient_id, "battery_low", "raise", at, f"battery|{device_id}|{at.isoformat()}",
            why, {"device_id": device_id, "battery_pct": battery},
        )  # fmt: skip
        return await episodes.apply(session, t, at)
    if battery >= limits.battery_clear_pct:
        why = explain_why("battery_ok", device_id=device_id, battery_pct=battery)
        t = technical_trigger(patient_id, "battery_low", "clear", at, "", why, {})
        return await episodes.apply(session, t, at)
    return []


async def _back_online(session: AsyncSession, rows: list[repo.Heard]) -> list[AlertEpisode]:
    """Clear the silence alarms of the devices heard (one query finds the open ones)."""
    patients = {r.patient_id for r in rows}
    changed: list[AlertEpisode] = []
    for ep in await episodes_repo.open_of(session, patients, ("device_offline", "no_data")):
        if ep.condition == "cleared":
            continue
        offline = ep.explanation.get("values", {}).get("device_id")
        for r in rows:
            if r.patient_id != ep.patient_id or (
                ep.rule == "device_offline" and offline != r.device_id
            ):
                continue  # another patient, or another device of the patient (still silent)
            why = explain_why("device_heard", device_id=r.device_id)
            t = technical_trigger(r.patient_id, ep.rule, "clear", r.at, "", why, {})
            changed += await episodes.apply(session, t, r.at)
            break
    return changed


async def sweep(
    session: AsyncSession, now: datetime, limits: TechnicalLimits = LIMITS
) -> list[AlertEpisode]:
    """Raise the silence alarms due at ``now``: kiosk offline, device offline, no data."""
    changed: list[AlertEpisode] = []
    kiosk_patients = await _kiosks_offline(session, now, limits, changed)
    offline = await repo.devices_silent_since(
        session, now - timedelta(seconds=limits.device_offline_s), now - timedelta(days=1)
    )
    offline_patients: set[str] = set()
    for hb in offline:
        if hb.patient_id in kiosk_patients:
            continue  # the kiosk's alarm covers its patients
        offline_patients.add(hb.patient_id)
        silent_s = (now - hb.last_seen_at).total_seconds()
        why = explain_why(
            "device_silent", device_id=hb.device_id, silent_min=round(silent_s / 60),
            limit_min=limits.device_offline_s / 60,
        )  # fmt: skip
        t = technical_trigger(
            hb.patient_id, "device_offline", "raise", now,
            f"offline|{hb.device_id}|{hb.last_seen_at.isoformat()}", why,
            {"device_id": hb.device_id, "last_seen_at": hb.last_seen_at.isoformat()},
        )  # fmt: skip
        changed += await episodes.apply(session, t, now)
    inhibited = kiosk_patients | offline_patients
    for patient_id, last in await repo.patients_silent_since(
        session, now - timedelta(seconds=limits.no_data_s)
    ):
        if patient_id in inhibited or await _inhibited(session, patient_id):
            continue
        why = explain_why("no_data", last_at=last.isoformat(), limit_h=limits.no_data_s / 3600)
        t = technical_trigger(
            patient_id, "no_data", "raise", now, f"nodata|{last.isoformat()}", why,
            {"last_seen_at": last.isoformat()},
        )  # fmt: skip
        changed += await episodes.apply(session, t, now)
    return changed


async def _inhibited(session: AsyncSession, patient_id: str) -> bool:
    """An open device-offline alarm of the patient, or kiosk-offline alarm of their point,
    already explains the silence."""
    if await episodes_repo.get_open(session, patient_id, "device_offline") is not None:
        return True
    point = await repo.telemedpoint_of(session, patient_id)
    if point is None:
        return False
    return await episodes_repo.get_open(session, kiosk_subject(point), "kiosk_offline") is not None


def kiosk_subject(telemedpoint_id: str) -> str:
    """The subject of a telemedpoint's own alarms (seen by its nurses and the operators)."""
    return f"telemedpoint:{telemedpoint_id}"


async def _kiosks_offline(
    session: AsyncSession, now: datetime, limits: TechnicalLimits, changed: list[AlertEpisode]
) -> set[str]:
    """One kiosk-offline alarm per silent telemedpoint bridge; return the point's patients,
    whose no-data alarms it inhibits."""
    patients: set[str] = set()
    since = now - timedelta(seconds=limits.kiosk_offline_s)
    for bridge_id, point, last, members in await repo.kiosks_silent_since(session, since):
        patients |= set(members)
        why = explain_why(
            "kiosk_silent", bridge_id=bridge_id, point=point, last_at=last.isoformat()
        )
        t = technical_trigger(
            kiosk_subject(point), "kiosk_offline", "raise", now,
            f"kiosk|{bridge_id}|{last.isoformat()}", why,
            {"bridge_id": bridge_id, "telemedpoint_id": point, "last_seen_at": last.isoformat()},
            priority=Priority.MEDIUM,
        )  # fmt: skip
        changed += await episodes.apply(session, t, now)
    return patients
