#!/usr/bin/env python
"""What the audit trail costs a read: every audited read of patient data is also a write (one
hash-chained entry, appended under the chain's lock, committed with the read).

Run from the repository root::

    nice -n 10 .venv/bin/python bench/bench_audit.py [--backend sqlite|postgres|both]
                                                     [--seconds 10] [--concurrency 8]

For each backend it creates a fresh, migrated database (a SQLite temp file; ``bench_<random>``
on the PostgreSQL server of ``TELEMED_TEST_POSTGRES_URL``, dropped afterwards) with 50 patients
and 100 readings each, then runs the same patient read as ``GET /api/patients/{id}/readings``
(``require_patient`` for an admin + the newest 100 readings) in one transaction per read, from
``--concurrency`` concurrent tasks, for ``--seconds`` seconds, twice: without the audit entry
(the reference) and with it (``audit.record``, as the endpoint does). It prints reads/s, the
p50/p95 latency, the ratio audited/reference, checks that the chain verifies and holds exactly
one entry per audited read, and the load average it saw (the machine is shared).

HTTP, JSON and authentication are left out on purpose: they cost the same with or without the
audit, so this is the ceiling the audit sets, not an end-to-end figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POSTGRES = os.environ.get("TELEMED_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PATIENTS, READINGS = 50, 100


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def _seed(url: str) -> None:
    from clinician_api.migrate import upgrade_async
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.ingest.models import ReadingRow
    from patient_hub.patients import service as patients

    await upgrade_async(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            for p in range(PATIENTS):
                pid = f"p{p}"
                await patients.upsert_patient(s, pid, f"Patient {p}", now)
                await patients.enrol_bridge(s, f"b{p}", patient_id=pid)
            await s.flush()
            for p in range(PATIENTS):
                s.add_all(
                    ReadingRow(
                        bridge_id=f"b{p}",
                        seq=i + 1,
                        patient_id=f"p{p}",
                        device_id="ox",
                        kind="spo2",
                        value=95.0,
                        unit="%",
                        measured_at=now - timedelta(minutes=i),
                        device_time=None,
                        received_at=now,
                        stored_at=now,
                        flags="",
                    )  # fmt: skip
                    for i in range(READINGS)
                )
    finally:
        await engine.dispose()


async def _run(url: str, audited: bool, seconds: float, concurrency: int) -> list[float]:
    """Latencies (s) of the reads completed in ``seconds`` by ``concurrency`` tasks."""
    from patient_hub.access import Principal, require_patient
    from patient_hub.accounts.models import Role
    from patient_hub.audit import service as audit
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.readings.repository import readings_of_patient

    who = Principal(user_id="usr_bench", username="bench", role=Role.ADMIN)
    engine = make_engine(url)  # PostgreSQL: a pool of 10 (+20), as the hub has
    sessions = make_sessionmaker(engine)
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def reader(k: int) -> None:
        n = k
        while time.monotonic() < stop:
            pid = f"p{n % PATIENTS}"
            n += concurrency
            t0 = time.perf_counter()
            async with unit_of_work(sessions) as s:
                await require_patient(s, who, pid)
                rows = await readings_of_patient(
                    s, pid, kind=None, since=None, until=None, limit=100
                )
                if audited:
                    await audit.record(
                        s, actor=who, action="read", entity_type="Reading", entity_id=pid,
                        patient_id=pid, detail={"rows": len(rows)},
                    )  # fmt: skip
            latencies.append(time.perf_counter() - t0)

    try:
        await asyncio.gather(*(reader(k) for k in range(concurrency)))
    finally:
        await engine.dispose()
    return latencies


async def _chain(url: str) -> tuple[int, int | None]:
    from patient_hub.audit import service as audit
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work

    engine = make_engine(url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            verdict = await audit.verify(s)
            return verdict.entries, verdict.broken_seq
    finally:
        await engine.dispose()


def _line(name: str, lat: list[float], seconds: float) -> float:
    rate = len(lat) / seconds
    q = statistics.quantiles(lat, n=20) if len(lat) >= 20 else [max(lat)] * 19
    print(f"  {name:<22} {rate:9.0f} reads/s   p50 {statistics.median(lat) * 1e3:6.1f} ms"
          f"   p95 {q[18] * 1e3:6.1f} ms   ({len(lat)} reads)")  # fmt: skip
    return rate


async def bench(backend: str, url: str, seconds: float, concurrency: int) -> None:
    await _seed(url)
    print(f"{backend}: {PATIENTS} patients x {READINGS} readings, {concurrency} concurrent "
          f"readers, {seconds:g} s per run; load average before: {_load()}")  # fmt: skip
    await _run(url, False, 1.0, concurrency)  # warm up connections and caches
    ref = _line("reference (no audit)", await _run(url, False, seconds, concurrency), seconds)
    lat = await _run(url, True, seconds, concurrency)
    rate = _line("audited", lat, seconds)
    entries, broken = await _chain(url)
    ok = entries == len(lat) and broken is None
    print(f"  audited / reference: {rate / ref:.2f}; chain: {entries} entries, "
          f"{'verifies' if ok else f'MISMATCH (broken at {broken})'}; load average after: {_load()}")  # fmt: skip
    if not ok:
        raise SystemExit(1)


async def _with_postgres(seconds: float, concurrency: int) -> None:
    import asyncpg

    name = f"bench_{secrets.token_hex(4)}"
    admin = POSTGRES
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        await bench("postgresql", admin.rsplit("/", 1)[0] + "/" + name, seconds, concurrency)
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            asyncio.run(bench("sqlite", url, args.seconds, args.concurrency))
    if args.backend in ("postgres", "both"):
        asyncio.run(_with_postgres(args.seconds, args.concurrency))


if __name__ == "__main__":
    main()
