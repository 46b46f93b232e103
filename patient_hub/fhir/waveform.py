"""Waveform sample chunks <-> PHD RTSA Observations with ``valueSampledData`` (one channel each).

Decoding rule (FHIR SampledData / PHD ``PhdRtsaObservation``):
``value[i] = origin.value + factor * data[i]`` at ``start + i * period`` (period in ms).
Our chunks are integers with the chunk's ``factor`` (ECG: microvolts, factor 1; ABP: mmHg at
the device's resolution; PLETH: device units), so origin is 0 and the data are the samples.
Codes: ECG by lead (MDC_ECG_ELEC_POTL_*), MDC_PULS_OXIM_PLETH, MDC_PRESS_BLD_ART_ABP.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from patient_hub.fhir.codes import Code
from patient_hub.fhir.common import (
    PHD_PREFIX,
    WAVEFORMS,
    ChunkLike,
    JsonDict,
    codes,
    concept,
    device_ref,
    fhir_datetime,
    flag_list,
    gateway_ref,
    id_from_reference,
    parse_datetime,
    patient_ref,
    phd_category,
    resource_id,
)
from patient_hub.fhir.errors import FhirMappingError
from telemed_core.kinds import PULSE_CHANNELS


def chunk_samples(samples: bytes | Sequence[int]) -> list[int]:
    """Samples as ints: rows store little-endian int32 bytes, value types a list."""
    if isinstance(samples, bytes | bytearray | memoryview):
        raw = bytes(samples)
        if len(raw) % 4:
            raise FhirMappingError(f"sample bytes length {len(raw)} is not a multiple of 4")
        return list(struct.unpack(f"<{len(raw) // 4}i", raw))
    return [int(s) for s in samples]


def lead_code(lead: str) -> Code:
    """The MDC code of an ECG lead (MDC_ECG_ELEC_POTL_I ...); unknown leads get the generic
    MDC_ECG_ELEC_POTL (131328) so nothing is refused, the lead name stays in ``code.text``."""
    cm = codes()
    leads = cm.raw["ecg_leads"]
    return cm.code("ecg_leads", lead) if lead in leads else cm.kind("ecg").mdc


def period_ms(fs_hz: float) -> float:
    """SampledData.period: milliseconds between samples."""
    return 1000.0 / fs_hz


def channel_code(kind: str, lead: str) -> tuple[Code, str]:
    """The MDC code and ``code.text`` of a waveform channel."""
    if kind == "ecg":
        return lead_code(lead), f"ECG lead {lead}"
    kc = codes().kind(kind)
    return kc.mdc, kc.display


def chunk_to_observation(chunk: ChunkLike, *, base_url: str | None = None) -> JsonDict:
    """One waveform chunk (one channel) as a PHD RTSA Observation with ``valueSampledData``.

    ``effectivePeriod`` runs from the first to the last sample. The identifier
    ``{bridge_id}/{seq}`` under ``local.chunk_identifier`` is the de-duplication key.
    """
    cm = codes()
    if chunk.kind not in WAVEFORMS:
        raise FhirMappingError(f"kind {chunk.kind!r} is not a waveform")
    ucum_unit = cm.kind(chunk.kind).ucum
    if chunk.unit != ucum_unit:
        raise FhirMappingError(
            f"{chunk.kind} samples must be in {ucum_unit}, the chunk says {chunk.unit!r}"
        )
    samples = chunk_samples(chunk.samples)
    if not samples:
        raise FhirMappingError("a waveform chunk without samples cannot be mapped")
    code, text = channel_code(chunk.kind, chunk.lead)
    end = chunk.start + timedelta(seconds=(len(samples) - 1) / chunk.fs_hz)
    ucum = cm.systems["ucum"]
    flags = flag_list(chunk.flags)
    meta: JsonDict = {"profile": [cm.profiles["phd_rtsa"]]}
    if flags:
        meta["tag"] = [{"system": cm.local["reading_flag"], "code": f} for f in flags]
    if "simulated" in flags:
        htest = {"system": cm.systems["act_reason"], "code": "HTEST", "display": "test health data"}
        meta["security"] = [htest]
    out: JsonDict = {
        "resourceType": "Observation",
        "id": resource_id("ecg", getattr(chunk, "id", None)),
        "meta": meta,
        "extension": [
            {
                "url": cm.extensions["gateway_device"],
                "valueReference": gateway_ref(chunk.bridge_id, base_url),
            }
        ],
        "identifier": [
            {"system": cm.local["chunk_identifier"], "value": f"{chunk.bridge_id}/{chunk.seq}"}
        ],
        "status": "final",
        "category": [phd_category()],
        "code": concept(code.coding(), text=text),
        "subject": patient_ref(chunk.patient_id, base_url),
        "effectivePeriod": {"start": fhir_datetime(chunk.start), "end": fhir_datetime(end)},
        "device": device_ref(chunk.device_id, base_url),
        "valueSampledData": {
            "origin": {"value": 0, "unit": ucum_unit, "system": ucum, "code": ucum_unit},
            "period": period_ms(chunk.fs_hz),
            "factor": _number(chunk.factor),
            "dimensions": 1,
            "data": " ".join(str(s) for s in samples),
        },
    }
    return {k: v for k, v in out.items() if v is not None}


def _number(x: float) -> int | float:
    """``x`` as JSON writes it best: 1 rather than 1.0."""
    return int(x) if float(x).is_integer() else float(x)


def _channel_of(obs: dict[str, Any]) -> tuple[str, str]:
    """``(kind, channel)`` of a waveform Observation, from its MDC coding."""
    cm = codes()
    by_code: dict[str, tuple[str, str]] = {
        e["code"]: ("ecg", name) for name, e in cm.raw["ecg_leads"].items()
    }
    by_code |= {cm.kind(k).mdc.code: (k, channel) for k, channel in PULSE_CHANNELS.items()}
    for c in obs.get("code", {}).get("coding", []):
        if c.get("system") == cm.systems["mdc"] and c.get("code") in by_code:
            return by_code[c["code"]]
    raise FhirMappingError(
        "Observation.code has no MDC waveform coding "
        "(MDC_ECG_ELEC_POTL_*, MDC_PULS_OXIM_PLETH, MDC_PRESS_BLD_ART_ABP)"
    )


def _data(sd: dict[str, Any]) -> list[float]:
    if int(sd.get("dimensions", 1)) != 1:
        raise FhirMappingError(
            "valueSampledData.dimensions must be 1 (one channel per Observation)"
        )
    try:
        return [float(x) for x in str(sd.get("data", "")).split()]
    except ValueError:
        raise FhirMappingError("valueSampledData.data holds E/L/U or non-numbers") from None


def _samples_scaled(sd: dict[str, Any], unit: str) -> tuple[list[int], float]:
    """Samples and factor of a PLETH/ABP SampledData in ``unit``: the data must be integers
    on a zero origin, which is how :func:`chunk_to_observation` writes them."""
    origin = sd.get("origin", {})
    if origin.get("code") != unit or float(origin.get("value", 0)) != 0:
        raise FhirMappingError(f"valueSampledData.origin must be 0 {unit}")
    factor = float(sd.get("factor", 1))
    data = _data(sd)
    if not (factor > 0 and all(x.is_integer() for x in data)):
        raise FhirMappingError("valueSampledData must hold integers with a factor > 0")
    return [int(x) for x in data], factor


def _samples_uv(sd: dict[str, Any]) -> list[int]:
    origin = sd.get("origin", {})
    if origin.get("code") not in ("uV", "mV"):
        raise FhirMappingError(
            f"valueSampledData.origin.code must be uV or mV, got {origin.get('code')!r}"
        )
    scale = 1000.0 if origin["code"] == "mV" else 1.0
    factor, base = float(sd.get("factor", 1)), float(origin.get("value", 0))
    data = _data(sd)
    return [round((base + factor * x) * scale) for x in data]


def observation_to_chunk(obs: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`chunk_to_observation` for ingest: kind, lead (the channel), unit,
    factor, fs_hz, start, samples (integers; ECG in uV), patient_id and device_id (None when
    the reference is not one of ours)."""
    sd = obs.get("valueSampledData")
    if not isinstance(sd, dict):
        raise FhirMappingError("Observation has no valueSampledData")
    period = float(sd.get("period", 0))
    if period <= 0:
        raise FhirMappingError("valueSampledData.period must be > 0 ms")
    eff = obs.get("effectivePeriod", {}).get("start") or obs.get("effectiveDateTime")
    kind, channel = _channel_of(obs)
    unit = codes().kind(kind).ucum
    samples, factor = _samples_scaled(sd, unit) if kind != "ecg" else (_samples_uv(sd), 1.0)
    return {
        "kind": kind,
        "lead": channel,
        "unit": unit,
        "factor": factor,
        "fs_hz": 1000.0 / period,
        "start": parse_datetime(eff, "Observation.effective[x]"),
        "samples": samples,
        "patient_id": id_from_reference(
            obs.get("subject"), "Patient", system_key="patient_identifier"
        ),
        "device_id": id_from_reference(
            obs.get("device"), "Device", prefix=PHD_PREFIX, system_key="device_identifier"
        ),
    }
