#!/usr/bin/env python
"""FHIR search benchmark: "one patient's last day of one code" over 1,000,000 observations.

Run from the repository root (PostgreSQL must answer; nothing else is needed)::

    .venv/bin/python bench/bench_fhir_search.py [--readings 1000000] [--patients 200]
        [--days 30] [--searches 500] [--concurrency 1] [--postgres-url postgresql://...]

It

1. creates a fresh database ``bench_fhir_<random>`` on the server (dropped at the end) and
   migrates it (``clinician_api.migrate.upgrade``); seeds the patients and an admin;
2. bulk-loads the readings with COPY (asyncpg ``copy_records_to_table``) into the migrated
   table, indexes in place: per patient a mix of heart rate, pulse rate, SpO2, respiratory rate,
   temperature and BP (systolic + diastolic pairs, i.e. panels) spread over ``--days`` days up
   to the same end instant, then ANALYZE;
3. starts a real hub (``telemed serve --port 0`` subprocess, ``TELEMED_DATABASE_URL`` pointing
   at the database) and signs in as the admin;
4. sends ``--searches`` HTTP searches ``GET /fhir/Observation?patient=X&code=http://loinc.org|
   8867-4&date=geEND-24h`` for random patients (after a warm-up), ``--concurrency`` at a time,
   and reports client-side latency percentiles (request sent -> whole body read);
5. runs the page's SQL (the statement the repository builds, ``page_statement``) under
   ``EXPLAIN (ANALYZE, BUFFERS)`` for a sample of those searches: the database's own time;
6. prints machine, parameters, load time and the figures; the target is p95 <= 50 ms.

LOINC 8867-4 is carried by heart rate and pulse rate Observations, so the search reads two
index ranges of ``ix_readings_patient_kind_time (patient_id, kind, measured_at)``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import os  # noqa: E402

from bench_ingest import ADMIN_USER, Hub, get_token, machine_info  # noqa: E402

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
END = datetime(2026, 11, 27, tzinfo=UTC)
CODE = "http://loinc.org|8867-4"
#: Share of each patient's readings per kind (BP rows come in systolic + diastolic pairs).
MIX = (
    ("heart_rate", "/min", 0.26, 55.0, 50),
    ("pulse_rate", "/min", 0.04, 60.0, 40),
    ("spo2", "%", 0.30, 90.0, 10),
    ("respiratory_rate", "/min", 0.16, 12.0, 12),
    ("body_temperature", "Cel", 0.04, 36.0, 2),
    ("bp", "mm[Hg]", 0.20, 0.0, 0),
)
COLUMNS = (
    "bridge_id", "seq", "patient_id", "device_id", "kind", "value", "unit", "measured_at",
    "device_time", "received_at", "stored_at", "flags",
)  # fmt: skip


def patient_id(i: int) -> str:
    return f"fp{i:04d}"


def rows_of_patient(i: int, n: int, days: int) -> Iterator[tuple[Any, ...]]:
    """``n`` readings of patient ``i`` (COPY records), evenly spread with jitter up to END."""
    rng = random.Random(i)
    pid, bridge, seq = patient_id(i), f"fb{i:04d}", 0
    span_s = days * 86400
    for kind, unit, share, low, spread in MIX:
        count = round(n * share) // (2 if kind == "bp" else 1)
        for k in range(count):
            at = END - timedelta(seconds=span_s * (k + rng.random()) / count)
            stored = at + timedelta(seconds=2)
            parts = (("bp_systolic", 110 + rng.random() * 40), ("bp_diastolic", 65 + rng.random() * 25)) if kind == "bp" else ((kind, low + rng.random() * spread),)  # fmt: skip
            for part_kind, value in parts:
                seq += 1
                device = f"{pid}-{'bp' if kind == 'bp' else kind[:4]}"
                yield (bridge, seq, pid, device, part_kind, round(value, 1), unit, at, None, at, stored, "")  # fmt: skip


async def create_database(admin_dsn: str) -> tuple[str, str, str]:
    import asyncpg

    name = f"bench_fhir_{secrets.token_hex(5)}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        version = await conn.fetchval("SHOW server_version")
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_dsn.rsplit("/", 1)[0] + "/" + name, name, str(version)


async def drop_database(admin_dsn: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def seed(database_url: str, patients: int) -> str:
    """Patients on one telemedpoint and an admin; returns the admin's password."""
    from patient_hub.accounts.service import create_user
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.patients import service as patient_service

    password = secrets.token_urlsafe(16)
    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            await patient_service.ensure_telemedpoint(s, "bench-tmp", "Bench point")
            for i in range(patients):
                await patient_service.upsert_patient(
                    s, patient_id(i), f"Bench {i}", END - timedelta(days=400), telemedpoint_id="bench-tmp"
                )  # fmt: skip
            await create_user(s, ADMIN_USER, password, "admin")
    finally:
        await engine.dispose()
    return password


async def bulk_load(database_url: str, args: argparse.Namespace) -> tuple[int, float, float]:
    """COPY the readings; returns (rows, copy seconds, analyze seconds)."""
    import asyncpg

    per_patient = args.readings // args.patients
    conn = await asyncpg.connect(database_url)
    try:
        t0 = time.perf_counter()
        total = 0
        for first in range(0, args.patients, 20):
            records = [
                r
                for i in range(first, min(first + 20, args.patients))
                for r in rows_of_patient(i, per_patient, args.days)
            ]
            await conn.copy_records_to_table("readings", records=records, columns=COLUMNS)
            total += len(records)
        copy_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        await conn.execute("ANALYZE")
        return total, copy_s, time.perf_counter() - t0
    finally:
        await conn.close()


def search_params(i: int) -> dict[str, str]:
    since = (END - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    return {"patient": patient_id(i), "code": CODE, "date": f"ge{since}"}


async def time_searches(
    url: str, token: str, args: argparse.Namespace
) -> tuple[list[float], list[int], list[int]]:
    """Client-side latency (s) of each search, its entry count, and the patients searched."""
    import httpx

    rng = random.Random(7)
    chosen = [rng.randrange(args.patients) for _ in range(args.searches)]
    latencies: list[float] = []
    entries: list[int] = []
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as c:
        for i in range(20):  # warm-up: connection pool, statement caches
            (
                await c.get("/fhir/Observation", params=search_params(i % args.patients))
            ).raise_for_status()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for p in chosen:
            queue.put_nowait(p)

        async def worker() -> None:
            while not queue.empty():
                p = queue.get_nowait()
                t0 = time.perf_counter()
                r = await c.get("/fhir/Observation", params=search_params(p))
                body = r.json()
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise RuntimeError(f"search failed: {r.status_code} {r.text[:300]}")
                entries.append(len(body.get("entry", [])))

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return latencies, entries, chosen


async def explain(database_url: str, patients: list[int]) -> tuple[list[float], list[float], str]:
    """EXPLAIN ANALYZE of the page statement the repository builds for these searches:
    (execution ms, planning ms, one plan as text)."""
    import asyncpg

    from patient_hub.db import make_engine
    from patient_hub.fhir.repository.observations import page_statement
    from patient_hub.fhir.search.parse import parse_observation_search

    engine = make_engine(database_url)
    conn = await asyncpg.connect(database_url)
    exec_ms, plan_ms, text = [], [], ""
    try:
        for p in patients:
            q = parse_observation_search(list(search_params(p).items()))
            stmt = page_statement(q, q.patients)
            assert stmt is not None
            compiled = stmt.compile(
                dialect=engine.dialect, compile_kwargs={"render_postcompile": True}
            )
            args = [compiled.params[name] for name in compiled.positiontup or ()]
            plan = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {compiled}", *args)
            root = json.loads(plan)[0]
            exec_ms.append(root["Execution Time"])
            plan_ms.append(root["Planning Time"])
            if not text:
                rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", *args)
                text = "\n".join(r[0] for r in rows)
    finally:
        await conn.close()
        await engine.dispose()
    return exec_ms, plan_ms, text


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def show(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k.ljust(width)}  {v}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--searches", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--explain-sample", type=int, default=50)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    return parser.parse_args(argv)


async def main_async(args: argparse.Namespace) -> int:
    from clinician_api.migrate import upgrade_async

    print("FHIR search benchmark")
    show(machine_info())
    database_url, name, version = await create_database(args.postgres_url)
    show([("postgresql", version), ("database", name), ("readings", f"{args.readings:,}"),
          ("patients", str(args.patients)), ("days", str(args.days)),
          ("searches", f"{args.searches} (concurrency {args.concurrency})"),
          ("query", "GET /fhir/Observation?" + "&".join(f"{k}={v}" for k, v in search_params(0).items()).replace(patient_id(0), "<patient>"))])  # fmt: skip
    hub = None
    try:
        t0 = time.perf_counter()
        await upgrade_async(database_url)
        password = await seed(database_url, args.patients)
        setup_s = time.perf_counter() - t0
        rows, copy_s, analyze_s = await bulk_load(database_url, args)
        print(f"\nloaded {rows:,} readings: COPY {copy_s:.1f} s ({rows / copy_s:,.0f} rows/s, "
              f"indexes in place), ANALYZE {analyze_s:.1f} s; migrate + seed {setup_s:.1f} s")  # fmt: skip
        hub = await Hub.start(database_url, None, f"bench:{secrets.token_hex(4)}:")
        token = await get_token(hub.url, password)
        load_before = os.getloadavg()[0]
        cpu0, t0 = hub.cpu_s() or 0.0, time.perf_counter()
        latencies, entries, chosen = await time_searches(hub.url, token, args)
        wall_s = time.perf_counter() - t0
        hub_cpu_ms = ((hub.cpu_s() or 0.0) - cpu0) * 1000 / (args.searches + 20)
        load = f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
        ms = [x * 1000 for x in latencies]
        exec_ms, plan_ms, plan_text = await explain(database_url, chosen[: args.explain_sample])
    finally:
        if hub is not None:
            await hub.stop()
        await drop_database(args.postgres_url, name)
    p95 = pct(ms, 95)
    print(f"\nHTTP search latency over {len(ms)} searches ({statistics.mean(entries):.0f} entries per Bundle on average):")  # fmt: skip
    show([("p50", f"{pct(ms, 50):.1f} ms"), ("p95", f"{p95:.1f} ms"), ("p99", f"{pct(ms, 99):.1f} ms"),
          ("max", f"{max(ms):.1f} ms"), ("mean", f"{statistics.mean(ms):.1f} ms"),
          ("throughput", f"{len(ms) / wall_s:.0f} searches/s"),
          ("hub CPU", f"{hub_cpu_ms:.1f} ms per search (user + system, incl. warm-up)"),
          ("load average", f"{load} (other processes share the {os.cpu_count()} CPUs)")])  # fmt: skip
    print(f"\nSQL only (EXPLAIN ANALYZE of the page statement, {len(exec_ms)} of the searches):")
    show([("execution p50", f"{pct(exec_ms, 50):.2f} ms"), ("execution p95", f"{pct(exec_ms, 95):.2f} ms"),
          ("execution max", f"{max(exec_ms):.2f} ms"), ("planning p50", f"{pct(plan_ms, 50):.2f} ms")])  # fmt: skip
    print("\nplan of the first one:\n" + plan_text)
    verdict = "PASS" if p95 <= 50 else "FAIL"
    print(f"\ntarget p95 <= 50 ms: {verdict} ({p95:.1f} ms); database {name} dropped")
    return 0 if verdict == "PASS" else 1


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
