"""Alert fixtures: a migrated database, the in-process bus and a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from alerts.engine.consumer import AlertWorker
from clinician_api.migrate import upgrade_async
from patient_hub.bus.memory import MemoryBus
from patient_hub.db import make_engine
from patient_hub.runtime import HubContext
from tests.alerts.helpers import T0


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class AlertRig:
    hub: HubContext
    clock: Clock
    url: str

    def worker(self, name: str = "w1") -> AlertWorker:
        """A fresh worker (a restarted process has nothing in memory)."""
        return AlertWorker(self.hub, name, clock=self.clock)


async def build_rig(url: str) -> AlertRig:
    await upgrade_async(url)
    clock = Clock()
    hub = HubContext.build(make_engine(url), MemoryBus())
    hub.clock = clock
    return AlertRig(hub, clock, url)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[AlertRig]:
    made = await build_rig(f"sqlite:///{tmp_path / 'alerts.db'}")
    yield made
    await made.hub.bus.close()
    await made.hub.engine.dispose()
