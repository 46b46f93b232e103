"""Readings stored once, and a probe that counts alerts and escalations across a fault."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from alerts.engine.conditions import Trigger
from alerts.episodes import service as episodes
from alerts.episodes.models import AlertEpisode, AlertEvent
from alerts.policy.rules import Category, Priority
from device_bridge.outbox import Outbox
from device_bridge.uplink import Uplink
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from patient_hub.ingest.models import ReadingRow
from telemed_core.values import utc_now


async def seqs_of(database_url: str, bridge_id: str) -> list[int]:
    """The stored readings' seqs of one bridge, in order (a double shows twice)."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            rows = await s.scalars(
                select(ReadingRow.seq)
                .where(ReadingRow.bridge_id == bridge_id)
                .order_by(ReadingRow.seq)
            )
            return list(rows)
    finally:
        await engine.dispose()


def tally(sent: int, seqs: list[int]) -> dict[str, int]:
    """sent / stored / duplicated / lost, from how many items a bridge sent and the seqs
    stored for it (its seqs start where the hub reserved them: 1, or further on when the first
    handshake's reply was cut and a new outbox asked again)."""
    counts = Counter(seqs)
    return {
        "sent": sent,
        "stored": len(counts),
        "duplicated": sum(n - 1 for n in counts.values()),
        "lost": sent - len(counts),
    }


PROBE_PHASES = ("before", "during", "after")


async def enrol_probes(database_url: str, prefix: str = "probe") -> dict[str, str]:
    """A probe patient with a home bridge per phase (``probe-before`` ...); returns bridge
    tokens by patient id."""
    from patient_hub.patients import service as patients

    engine = make_engine(database_url)
    tokens = {}
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            for phase in PROBE_PHASES:
                pid = f"{prefix}-{phase}"
                await patients.upsert_patient(s, pid, f"Probe {phase}", utc_now())
                tokens[pid] = await patients.enrol_bridge(s, f"bridge-{pid}", patient_id=pid)
    finally:
        await engine.dispose()
    return tokens


def a_desaturation(box: Outbox, patient_id: str) -> int:
    """Four minutes of 1 Hz SpO2 ending now: one minute at 97 %, two at 86 % (limit 90 %,
    60 s persistence), one at 97 %: one desaturation. Returns the readings appended."""
    t0 = utc_now() - timedelta(seconds=240)
    box.append(
        (
            "reading",
            {
                "patient_id": patient_id,
                "device_id": f"ox-{patient_id}",
                "kind": "spo2",
                "value": 86.0 if 60 <= s < 180 else 97.0,
                "unit": "%",
                "measured_at": (t0 + timedelta(seconds=s)).isoformat(),
                "received_at": (t0 + timedelta(seconds=s)).isoformat(),
            },
        )  # fmt: skip
        for s in range(240)
    )
    return 240


@dataclass
class Probe:
    """A probe patient driven into a desaturation before, during and after a fault (each phase
    its own patient and bridge, sending through ``bridge_url``), and high alerts whose first
    escalation falls due before, during and after it."""

    database_url: str
    bridge_url: str  # ws://host:port/ws/bridge
    folder: Path
    tokens: dict[str, str] = field(default_factory=dict)
    senders: list[tuple[Uplink, asyncio.Task[None]]] = field(default_factory=list)
    escalating: dict[int, str] = field(default_factory=dict)  # alert id → phase
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def enrol(self) -> None:
        self.tokens = await enrol_probes(self.database_url)

    async def drive(self, phase: str) -> Uplink:
        """The phase's desaturation, sent by its own bridge until its outbox is empty."""
        pid = f"probe-{phase}"
        box = Outbox(self.folder / f"probe-{phase}.db")
        a_desaturation(box, pid)
        uplink = Uplink(self.bridge_url, f"bridge-{pid}", self.tokens[pid], box, batch_size=40)
        self.senders.append((uplink, asyncio.create_task(uplink.run(self.stop))))
        return uplink

    async def before(self, timeout_s: float = 60) -> None:
        """The "before" phase, done: its alert raised and its escalation fired."""
        await self.drive("before")
        await self.escalate_in("before", 0.5)
        async with asyncio.timeout(timeout_s):
            while (got := await self.counts())["alerts_raised"] < 1 or got["escalations_fired"] < 1:
                await asyncio.sleep(0.2)

    async def escalate_in(self, phase: str, due_in_s: float) -> None:
        """A high alert of the phase's probe patient whose first escalation is due in
        ``due_in_s`` (opened 120 s − that ago; the nurse's timeout is 120 s)."""
        engine = make_engine(self.database_url)
        try:
            async with unit_of_work(make_sessionmaker(engine)) as session:
                t = Trigger(
                    patient_id=f"probe-{phase}", rule="fault_probe", title="fault probe",
                    action="raise", at=utc_now(), priority=Priority.HIGH,
                    category=Category.CLINICAL, evidence_key=f"probe-{phase}", source_kind="test",
                )  # fmt: skip
                opened = utc_now() - timedelta(seconds=120 - due_in_s)
                [ep] = await episodes.apply(session, t, opened)
                self.escalating[ep.id] = phase
        finally:
            await engine.dispose()

    async def drained(self, timeout_s: float = 90) -> None:
        async with asyncio.timeout(timeout_s):
            while any(u.outbox.depth() for u, _ in self.senders):
                await asyncio.sleep(0.1)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*(t for _, t in self.senders), return_exceptions=True)
        for uplink, _ in self.senders:
            uplink.outbox.close()

    async def counts(self) -> dict[str, Any]:
        """Alerts expected / raised / doubled (per probe patient and rule) and escalations
        expected / fired / doubled, as the database has them now."""
        engine = make_engine(self.database_url)
        try:
            async with make_sessionmaker(engine)() as s:
                rows = (
                    await s.execute(
                        select(AlertEpisode.patient_id, AlertEpisode.rule, func.count())
                        .where(AlertEpisode.patient_id.like("probe-%"))
                        .where(AlertEpisode.rule != "fault_probe")
                        .group_by(AlertEpisode.patient_id, AlertEpisode.rule)
                    )
                ).all()
                # Per (alert, tier): a run longer than the next tier's timeout (3 min) sees
                # the second escalation too, which is due, not a double.
                fired = Counter(
                    (alert_id, detail.get("to_tier"))
                    for alert_id, detail in await s.execute(
                        select(AlertEvent.alert_id, AlertEvent.detail).where(
                            AlertEvent.action == "escalated",
                            AlertEvent.alert_id.in_(list(self.escalating)),
                        )
                    )
                )
        finally:
            await engine.dispose()
        driven = {u.bridge_id.removeprefix("bridge-") for u, _ in self.senders}
        raised = {pid for pid, rule, _ in rows if "desaturation" in rule and pid in driven}
        return {
            "alerts_expected": len(driven),
            "alerts_raised": len(raised),
            "alerts_doubled": sum(n - 1 for _, _, n in rows),
            "alert_rules": sorted({rule for _, rule, _ in rows}),
            "escalations_expected": len(self.escalating),
            "escalations_fired": len({alert_id for alert_id, tier in fired if tier == 1}),
            "escalations_doubled": sum(n - 1 for n in fired.values()),
        }

    async def settled(self, timeout_s: float = 60) -> dict[str, Any]:
        """The counts once every driven alert was raised and every escalation fired (or the
        timeout passed), and two more seconds in which nothing may be added."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while True:
                    got = await self.counts()
                    if (got["alerts_raised"] == got["alerts_expected"]
                            and got["escalations_fired"] == got["escalations_expected"]):  # fmt: skip
                        break
                    await asyncio.sleep(0.3)
        await asyncio.sleep(2.0)
        return await self.counts()
