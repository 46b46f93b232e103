"""Benchmark: first-responder dispatch (issue 15).

Run from the repository root:
``.venv/bin/python bench/bench_dispatch.py [--backend sqlite|postgres] [--quick]``.

1. **Confirmation → offers on the responders' websockets.** A real hub (``telemed serve``, one
   process) with 1,000 registered responders on duty across a 20 km square around Ostrava, every
   one of them connected to ``/ws/dispatch``. The bench confirms a cardiac arrest of a monitored
   patient (``POST /api/patients/{id}/send-responders``) at a random home, and times each
   offer frame's arrival on the offered responders' sockets from the moment the request was
   sent; then it closes the incident and takes the next patient. PostgreSQL runs with the
   Redis bus (scale-out settings); SQLite with the in-process bus.
2. **The dispatch query as responders grow to 100,000.** In-process, on the same backend: the
   candidate query (on duty, vetted, fresh, free, inside the radius's box) plus the ranking,
   at random incident places, with 1,000 / 10,000 / 100,000 responders spread over a
   60 km square (about the Ostrava agglomeration's extent).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import websockets  # noqa: E402
from _machine import _busy_pct, _cpu_model, _mem_total, _telemed_command  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from alerts.dispatch import repository as repo  # noqa: E402
from alerts.dispatch.models import Incident, Responder  # noqa: E402
from alerts.dispatch.policy import DispatchPolicy  # noqa: E402
from alerts.dispatch.selection import nearest_responders  # noqa: E402
from clinician_api.auth import tokens  # noqa: E402
from clinician_api.migrate import upgrade_async  # noqa: E402
from patient_hub.accounts.models import User  # noqa: E402
from patient_hub.accounts.security_models import AuthSession  # noqa: E402
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work  # noqa: E402
from patient_hub.findings.models import FindingRow  # noqa: E402
from patient_hub.patients.models import CareTeamMember, Patient  # noqa: E402

CENTRE = (49.8357, 18.2925)
SECRET = "bench-secret-" + "x" * 40
PG_ADMIN = os.environ.get("TELEMED_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("TELEMED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
M_PER_DEG_LAT, M_PER_DEG_LON = 111_195.0, 111_195.0 * 0.6448  # cos(49.84°)


def spot(rng: random.Random, side_m: float) -> tuple[float, float]:
    return (CENTRE[0] + rng.uniform(-side_m / 2, side_m / 2) / M_PER_DEG_LAT,
            CENTRE[1] + rng.uniform(-side_m / 2, side_m / 2) / M_PER_DEG_LON)  # fmt: skip


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def create_pg_db() -> str:
    import asyncpg

    name = f"bench_dispatch_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


async def drop_pg_db(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def add_responders(
    sessions: Any, n: int, side_m: float, rng: random.Random, first: int = 0
) -> list[str]:
    now = datetime.now(UTC)
    ids = [f"usr_b{i:06d}" for i in range(first, first + n)]
    users = [
        {"id": u, "username": u, "password_hash": "-", "role": "responder", "active": True}
        for u in ids
    ]
    rows = []
    for u in ids:
        lat, lon = spot(rng, side_m)
        rows.append({"user_id": u, "qualification": "bench", "vetted_until": date(2099, 1, 1),
                     "on_duty": True, "latitude": lat, "longitude": lon, "position_at": now})  # fmt: skip
    signins = [{"id": sid_of(u), "user_id": u, "created_at": now, "last_seen_at": now} for u in ids]
    async with unit_of_work(sessions) as s:
        for i in range(0, n, 5000):
            await s.execute(insert(User), users[i : i + 5000])
            await s.execute(insert(Responder), rows[i : i + 5000])
            await s.execute(insert(AuthSession), signins[i : i + 5000])
    return ids


def sid_of(user_id: str) -> str:
    """The bench signs every account in directly: one server-side session each."""
    return f"ses_{user_id}"


def token(user_id: str, role: str, now: datetime) -> str:
    return tokens.issue(SECRET, user_id, role, sid_of(user_id), now, 3600)


async def seed_latency(
    url: str, responders: int, incidents: int, rng: random.Random
) -> tuple[list[str], list[str]]:
    """Responders, patients with homes and a fresh VF finding each, a cardiologist, a dispatcher."""
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        sessions = make_sessionmaker(engine)
        ids = await add_responders(sessions, responders, 20_000, rng)
        now = datetime.now(UTC)
        async with unit_of_work(sessions) as s:
            s.add(User(id="usr_cardio", username="cardio", password_hash="-", role="cardiologist"))
            s.add(User(id="usr_disp", username="disp", password_hash="-", role="dispatcher"))
            await s.flush()
            for uid in ("usr_cardio", "usr_disp"):
                s.add(AuthSession(id=sid_of(uid), user_id=uid, created_at=now, last_seen_at=now))
            patients = []
            for i in range(incidents):
                lat, lon = spot(rng, 16_000)
                pid = f"bench-{i}"
                s.add(Patient(id=pid, display_name=pid, created_at=now, home_latitude=lat,
                              home_longitude=lon, address_line=f"Bench street {i}", city="Ostrava"))  # fmt: skip
                await s.flush()
                s.add(CareTeamMember(user_id="usr_cardio", patient_id=pid))
                s.add(FindingRow(key=f"{pid}|vf", patient_id=pid, kind="ventricular_flutter_fib",
                                 start=now, severity="high", method="bench", values={},
                                 explanation="", updated_at=now))  # fmt: skip
                patients.append(pid)
        return ids, patients
    finally:
        await engine.dispose()


async def start_hub(url: str, redis_url: str | None) -> tuple[asyncio.subprocess.Process, str]:
    env = {**os.environ, "TELEMED_DATABASE_URL": url, "TELEMED_SECRET_KEY": SECRET,
           "TELEMED_DISPATCH_POSITION_MAX_AGE_S": "86400", "TELEMED_BUS_PREFIX": f"bench:{uuid.uuid4().hex}:"}  # fmt: skip
    if redis_url:
        env["TELEMED_REDIS_URL"] = redis_url
    proc = await asyncio.create_subprocess_exec(
        *_telemed_command(), "serve", "--port", "0", env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    while True:
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise RuntimeError("the hub exited before it was ready")
        if line.startswith("TELEMED_READY "):
            return proc, line.split()[1]


async def latency(
    url: str, redis_url: str | None, responders: int, incidents: int
) -> dict[str, Any]:
    rng = random.Random(15)
    ids, patients = await seed_latency(url, responders, incidents, rng)
    proc, base = await start_hub(url, redis_url)
    ws_base = base.replace("http://", "ws://")
    now = datetime.now(UTC)
    arrivals: dict[tuple[str, str], float] = {}
    sockets: list[Any] = []
    waiters: dict[tuple[str, str], asyncio.Event] = {}

    async def phone(user_id: str) -> None:
        access = token(user_id, "responder", now)
        ws = await websockets.connect(
            f"{ws_base}/ws/dispatch?access_token={access}", max_size=2**22
        )
        sockets.append(ws)
        assert json.loads(await ws.recv())["type"] == "hello"
        asyncio.create_task(listen(ws, user_id))

    async def listen(ws: Any, user_id: str) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "offer":
                key = (frame["offer"]["incident_id"], user_id)
                arrivals[key] = time.perf_counter()
                waiters.setdefault(key, asyncio.Event()).set()

    try:
        for i in range(0, len(ids), 100):
            await asyncio.gather(*(phone(u) for u in ids[i : i + 100]))
        cardio = {"Authorization": "Bearer " + token("usr_cardio", "cardiologist", now)}
        disp = {"Authorization": "Bearer " + token("usr_disp", "dispatcher", now)}
        lat_ms, http_ms, offered = [], [], []
        busy = asyncio.create_task(_busy_pct(5.0))
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for pid in patients:
                t0 = time.perf_counter()
                r = await client.post(
                    f"/api/patients/{pid}/send-responders",
                    json={"finding_key": f"{pid}|vf"},
                    headers=cardio,
                )
                http_ms.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                inc = r.json()
                keys = [(inc["id"], o["responder_id"]) for o in inc["offers"]]
                offered.append(len(keys))
                for key in keys:
                    async with asyncio.timeout(10):
                        await waiters.setdefault(key, asyncio.Event()).wait()
                    lat_ms.append((arrivals[key] - t0) * 1000)
                (
                    await client.post(f"/api/incidents/{inc['id']}/close", headers=disp)
                ).raise_for_status()
        machine_busy = await busy
    finally:
        for ws in sockets:
            await ws.close()
        proc.terminate()
        await proc.wait()
    return {"offers": len(lat_ms), "per_incident": statistics.mean(offered),
            "p50": pct(lat_ms, 50), "p99": pct(lat_ms, 99), "max": max(lat_ms),
            "http_p50": pct(http_ms, 50), "busy": machine_busy}  # fmt: skip


async def query_cost(url: str, sizes: list[int], samples: int) -> list[dict[str, Any]]:
    await upgrade_async(url)
    engine = make_engine(url)
    rng = random.Random(16)
    policy = DispatchPolicy()
    out, have = [], 0
    try:
        sessions = make_sessionmaker(engine)
        for n in sizes:
            await add_responders(sessions, n - have, 60_000, rng, first=have)
            have = n
            if engine.dialect.name == "postgresql":
                async with engine.begin() as conn:
                    from sqlalchemy import text

                    await conn.execute(text("ANALYZE responders"))
            times, found = [], []
            now = datetime.now(UTC)
            async with sessions() as s:
                for k in range(samples):
                    lat, lon = spot(rng, 50_000)
                    inc = Incident(
                        id=f"q{k}", state="offering", latitude=lat, longitude=lon, address=""
                    )
                    t0 = time.perf_counter()
                    rows = await repo.candidates(
                        s, inc, policy.radius_of(0), now - timedelta(hours=1), now.date(), now
                    )
                    chosen = nearest_responders(
                        lat, lon, rows, policy.radius_of(0), policy.count_of(0), policy.travel
                    )
                    times.append((time.perf_counter() - t0) * 1000)
                    found.append(len(rows))
                    assert len(chosen) <= policy.count_of(0)
            out.append(
                {
                    "n": n,
                    "p50": pct(times, 50),
                    "p99": pct(times, 99),
                    "box": statistics.mean(found),
                }
            )
    finally:
        await engine.dispose()
    return out


async def main_async(args: argparse.Namespace) -> None:
    print(
        f"machine: {_cpu_model()}, {os.cpu_count()} cores, {_mem_total()}; load average {os.getloadavg()}"
    )
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    incidents = 15 if args.quick else 40
    for backend in ["sqlite", "postgres"] if args.backend == "both" else [args.backend]:
        with tempfile.TemporaryDirectory() as tmp:
            for part in ("latency", "query"):
                url = (
                    await create_pg_db() if backend == "postgres" else f"sqlite:///{tmp}/{part}.db"
                )
                try:
                    if part == "latency":
                        r = await latency(
                            url,
                            REDIS if backend == "postgres" else None,
                            args.responders,
                            incidents,
                        )
                        print(f"\n[{backend}] confirmation → offer frame on the responder's socket, "
                              f"{args.responders} responders connected, {incidents} incidents "
                              f"({r['offers']} offers, {r['per_incident']:.1f} per incident)")  # fmt: skip
                        print(f"  p50 {r['p50']:.1f} ms  p99 {r['p99']:.1f} ms  max {r['max']:.1f} ms  "
                              f"(HTTP answer p50 {r['http_p50']:.1f} ms; machine busy {r['busy']:.0f} %)")  # fmt: skip
                    else:
                        print(
                            f"\n[{backend}] dispatch query (candidates + ranking), 800 m, {args.samples} places"
                        )
                        print("  responders   p50 ms   p99 ms   in the box")
                        for r in await query_cost(url, sizes, args.samples):
                            print(
                                f"  {r['n']:>10,}   {r['p50']:6.2f}   {r['p99']:6.2f}   {r['box']:8.1f}"
                            )
                finally:
                    if backend == "postgres":
                        await drop_pg_db(url)
    print(f"\nload average after: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--responders", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
