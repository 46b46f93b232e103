"""Builders shared by the alert tests: wire readings and findings on a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def reading(
    kind: str, value: float, at: datetime, patient: str = "p1", seq: int = 0, device: str = "ox-1"
) -> dict[str, Any]:
    return {
        "bridge_id": f"bridge-{patient}",
        "seq": seq,
        "patient_id": patient,
        "device_id": device,
        "kind": kind,
        "value": value,
        "unit": "%",
        "measured_at": at.isoformat(),
        "received_at": at.isoformat(),
        "flags": [],
    }


def spo2_series(
    values_per_s: list[float], start: datetime = T0, patient: str = "p1"
) -> list[dict[str, Any]]:
    """One SpO2 reading per second."""
    return [
        reading("spo2", v, start + timedelta(seconds=i), patient, seq=i)
        for i, v in enumerate(values_per_s)
    ]


def finding(
    kind: str,
    start: datetime,
    patient: str = "p1",
    severity: str = "high",
    end: datetime | None = None,
) -> dict[str, Any]:
    return {
        "key": f"{patient}|{kind}|{start.isoformat()}",
        "patient_id": patient,
        "kind": kind,
        "start": start.isoformat(),
        "end": end.isoformat() if end else None,
        "severity": severity,
        "method": "test",
        "values": {"hr_bpm": 0},
        "window_s": 5.0,
        "explanation": f"{kind} in test",
    }


async def episodes(hub: Any) -> list[Any]:
    """Every episode, oldest first."""
    from sqlalchemy import select

    from alerts.episodes.models import AlertEpisode

    async with hub.sessions() as session:
        return list((await session.scalars(select(AlertEpisode).order_by(AlertEpisode.id))).all())


async def events(hub: Any, alert_id: int) -> list[str]:
    from alerts.episodes.repository import events_of

    async with hub.sessions() as session:
        return [e.action for e in await events_of(session, alert_id)]


def delivery(payload: dict[str, Any], n: int = 1) -> Any:
    from patient_hub.bus.base import Delivery

    return Delivery(str(n), payload)


async def send_readings(
    hub_ws_url: str,
    bridge: str,
    token: str,
    patient: str,
    kind: str,
    values: list[float],
    start: datetime = T0,
    unit: str = "%",
    device: str = "ox-1",
) -> None:
    """One batch over the real bridge protocol: a reading per second from ``start``."""
    import json

    import websockets

    async with websockets.connect(hub_ws_url + "/ws/bridge") as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "bridge_id": bridge, "token": token}))
        welcome = json.loads(await ws.recv())
        readings = [
            {
                "seq": welcome["last_seq"] + i + 1,
                "patient_id": patient,
                "device_id": device,
                "kind": kind,
                "value": v,
                "unit": unit,
                "measured_at": (start + timedelta(seconds=i)).isoformat(),
            }
            for i, v in enumerate(values)
        ]
        await ws.send(json.dumps({"type": "batch", "v": 1, "batch_id": 1, "readings": readings}))
        assert json.loads(await ws.recv())["type"] == "ack"


async def next_alert(monitor: Any, timeout_s: float = 10.0, **match: Any) -> dict[str, Any]:
    """The next alert pushed to a monitor socket whose fields equal ``match``."""
    import asyncio
    import json

    async with asyncio.timeout(timeout_s):
        while True:
            frame = json.loads(await monitor.recv())
            if frame["type"] != "alerts":
                continue
            for alert in frame["alerts"]:
                if all(alert.get(k) == v for k, v in match.items()):
                    return dict(alert)


async def feed(worker: Any, payload: dict[str, Any], n: int = 1) -> None:
    """Hand a readings batch to an alert worker as the bus would: split on the patient
    partitions (the worker first takes its partitions if it has none yet)."""
    from patient_hub.bus.base import TOPIC_READINGS
    from patient_hub.bus.partitions import by_partition, work_topic

    if not worker.readings.balanced:
        await worker.rebalance()
    for partition, rows in by_partition(payload.get("readings", [])).items():
        part = {**payload, "readings": rows}
        await worker.handle(work_topic(TOPIC_READINGS, partition), [delivery(part, n)])
