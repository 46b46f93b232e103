#!/usr/bin/env python
"""Benchmark: a day of offline kiosk visits, then the uplink drains them to the hub.

Run from the repository root::

    .venv/bin/python bench/bench_kiosk.py [--visits 40] [--backend sqlite|postgres]

1. A real hub runs as a subprocess (``telemed serve --port 0``) on a fresh database (SQLite
   file, or ``bench_<random>`` on the PostgreSQL server, dropped afterwards), seeded with a
   telemedpoint and its kiosk's bridge.
2. A kiosk (in this process: store, outbox, simulated devices with no delays) records
   ``--visits`` heart-failure visits with no uplink: each registers a new patient, measures BP
   twice, SpO2, a 30 s ECG strip (3,900 samples) and weight; every fifth asks for a
   teleconsultation.
3. The uplink starts; the time from its start until the outbox is empty (every item acked after
   the hub's commit) is the drain time. The hub's database is then checked: every patient, reading,
   strip and consult request exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from device_bridge.outbox import Outbox  # noqa: E402
from device_bridge.runner import ws_url  # noqa: E402
from device_bridge.uplink import Uplink  # noqa: E402
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work  # noqa: E402
from patient_hub.ingest.models import ReadingRow, SampleChunkRow  # noqa: E402
from patient_hub.kiosk.models import KioskRegistration, TeleconsultRequest  # noqa: E402
from patient_hub.patients import service as patients  # noqa: E402
from telemedpoint_kiosk.devices import KioskDevices  # noqa: E402
from telemedpoint_kiosk.simulated import KIOSK_DEVICES, SimulatedDevices  # noqa: E402
from telemedpoint_kiosk.store import KioskStore  # noqa: E402
from telemedpoint_kiosk.visits import VisitService  # noqa: E402

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


async def seed(database_url: str) -> str:
    from clinician_api.migrate import upgrade_async

    await upgrade_async(database_url)
    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            await patients.ensure_telemedpoint(s, "tmp-bench", "Bench point")
            return await patients.enrol_bridge(s, "kiosk-bench", telemedpoint_id="tmp-bench")
    finally:
        await engine.dispose()


async def start_hub(database_url: str) -> tuple[asyncio.subprocess.Process, str]:
    env = {**os.environ, "TELEMED_DATABASE_URL": database_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telemed_cli.main", "serve", "--port", "0", "--database-url", database_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    printed = ""
    while not (m := re.search(r"TELEMED_READY (\S+)", printed)):
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if not line:
            raise RuntimeError(f"hub exited:\n{printed}")
        printed += line
    return proc, m.group(1)


async def record_visits(service: VisitService, n: int) -> None:
    for i in range(n):
        patient = service.register(
            {"family_name": f"Bench{i}", "given_name": "Pacient", "birth_date": "1950-01-01",
             "consent": "yes", "id_checked": "yes"}, "nurse-bench",
        )  # fmt: skip
        visit = service.start(patient.id, "heart_failure", [], "nurse-bench")
        await service.measure(visit, "bp")
        await service.measure(visit, "bp")
        await service.measure(visit, "spo2")
        await service.record_ecg(visit)
        await service.measure(visit, "weight")
        if i % 5 == 0:
            service.request_consult(
                visit, {"addressee": "treating_doctor", "reason": "bench"}, "nurse-bench", ""
            )
        service.finish(visit)


async def counts(database_url: str) -> dict[str, int]:
    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            return {
                name: int(await s.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in (("registrations", KioskRegistration), ("readings", ReadingRow),
                                    ("strips", SampleChunkRow), ("consults", TeleconsultRequest))
            }  # fmt: skip
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace) -> int:
    folder = Path(tempfile.mkdtemp(prefix="bench-kiosk-"))
    database_url, drop = f"sqlite:///{folder / 'hub.db'}", None
    if args.backend == "postgres":
        import asyncpg

        name = f"bench_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(args.postgres_url)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        database_url = args.postgres_url.rsplit("/", 1)[0] + "/" + name
        drop = name
    token = await seed(database_url)
    proc, hub = await start_hub(database_url)
    store, outbox = KioskStore(folder / "kiosk.db"), Outbox(folder / "outbox.db")
    devices = KioskDevices(outbox, KIOSK_DEVICES)
    devices.source = SimulatedDevices(devices, measure_wall_s=0.0, strip_wall_s=0.0)
    try:
        t0 = time.perf_counter()
        await record_visits(VisitService(store, outbox, devices), args.visits)
        recorded_s = time.perf_counter() - t0
        items, size = outbox.depth(), (folder / "outbox.db").stat().st_size
        uplink = Uplink(ws_url(hub), "kiosk-bench", token, outbox)
        stop = asyncio.Event()
        t0 = time.perf_counter()
        link = asyncio.create_task(uplink.run(stop))
        await asyncio.wait_for(outbox.drained.wait(), 600)
        drain_s = time.perf_counter() - t0
        stop.set()
        await link
        stored = await counts(database_url)
    finally:
        proc.terminate()
        await proc.wait()
        outbox.close()
        store.close()
        if drop:
            import asyncpg

            conn = await asyncpg.connect(args.postgres_url)
            await conn.execute(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')
            await conn.close()
    expected = {"registrations": args.visits, "readings": 11 * args.visits,
                "strips": args.visits, "consults": -(-args.visits // 5)}  # fmt: skip
    print(
        f"backend {args.backend}, {args.visits} offline visits, load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"  recorded offline in {recorded_s:.2f} s: {items} outbox items, outbox file {size / 1e6:.1f} MB"
    )
    print(
        f"  uplink drained in {drain_s:.2f} s ({items / drain_s:.0f} items/s), {uplink.status.acked_items} acked"
    )
    print(f"  at the hub: {stored} (expected {expected})")
    return 0 if stored == expected else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--visits", type=int, default=40)
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES))
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
