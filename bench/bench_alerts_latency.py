"""Reading → alert on a clinician's websocket: p50/p99 with 1,000 and 5,000 simulated patients
on the embedded default (one ``telemed serve`` process: SQLite, in-process bus).

The hub's log is kept in the file ``BENCH_HUB_LOG`` names, if set. A kiosk or screen task that
fails ends the run with its error (it would otherwise read as "no alerts").

Kiosk bridges (``--bridges``, each for its share of the patients of one telemedpoint) send one
SpO2 reading per patient per second over protocol v1, lock-step with acks. Twice a second one
patient not yet used gets SpO2 83 % (below the 85 % rapid limit: a high alert at once, no
persistence delay). The latency is from the bridge's send of that batch to the alert's arrival
on an admin's /ws/monitor socket. The first ``--warmup`` seconds are not counted.

    .venv/bin/python bench/bench_alerts_latency.py --patients 1000 5000

``--postgres DSN`` runs the same hub on PostgreSQL and Redis Streams (the scale-out engines, one
``telemed serve`` process): a fresh database is created on that server and dropped afterwards,
and the bus keys live under a random prefix in ``--redis-url``, deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import websockets  # noqa: E402
from _machine import _busy_pct, _cpu_model, _telemed_command  # noqa: E402

from telemed_core.values import utc_now  # noqa: E402


async def seed(url: str, patients: int, bridges: int) -> dict[str, tuple[str, list[str]]]:
    from clinician_api.migrate import upgrade_async
    from patient_hub.accounts.service import create_user
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.patients import service as ps

    await upgrade_async(url)
    engine = make_engine(url)
    out: dict[str, tuple[str, list[str]]] = {}
    async with unit_of_work(make_sessionmaker(engine)) as s:
        await ps.ensure_telemedpoint(s, "tmp", "Bench point")
        ids = [f"b{i}" for i in range(patients)]
        for pid in ids:
            await ps.upsert_patient(s, pid, pid, utc_now(), telemedpoint_id="tmp")
        for k in range(bridges):
            token = await ps.enrol_bridge(s, f"kiosk-{k}", telemedpoint_id="tmp")
            out[f"kiosk-{k}"] = (token, ids[k::bridges])
        await create_user(s, "admin", "bench-admin", "admin")
    await engine.dispose()
    return out


class Probe:
    def __init__(self, warmup_s: float) -> None:
        self.sent: dict[str, float] = {}
        self.latency_ms: list[float] = []
        self.t0 = time.monotonic()
        self.warmup_s = warmup_s
        self.queue: list[str] = []
        #: (seconds since the start, latency ms) of each counted probe (``--timeline``).
        self.timeline: list[tuple[float, float]] = []

    def arrived(self, patient_id: str) -> None:
        sent = self.sent.pop(patient_id, None)
        if sent is not None and sent - self.t0 >= self.warmup_s:
            self.latency_ms.append((time.monotonic() - sent) * 1000)
            self.timeline.append((sent - self.t0, self.latency_ms[-1]))


async def kiosk(
    ws_url: str, bridge: str, token: str, ids: list[str], probe: Probe, stop: asyncio.Event
) -> None:
    async with websockets.connect(ws_url + "/ws/bridge", max_size=2**24) as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "bridge_id": bridge, "token": token}))
        seq = json.loads(await ws.recv())["last_seq"]
        batch_id = 0
        while not stop.is_set():
            tick = time.monotonic()
            at = utc_now().isoformat()
            mine = [p for p in probe.queue if p in ids_set(ids)]
            readings = []
            for pid in ids:
                seq += 1
                value = 83 if pid in mine else 97
                readings.append({"seq": seq, "patient_id": pid, "device_id": "ox", "kind": "spo2",
                                 "value": value, "unit": "%", "measured_at": at})  # fmt: skip
            batch_id += 1
            for pid in mine:
                probe.queue.remove(pid)
                probe.sent[pid] = time.monotonic()
            await ws.send(
                json.dumps({"type": "batch", "v": 1, "batch_id": batch_id, "readings": readings})
            )
            reply = json.loads(await ws.recv())
            if reply.get("type") != "ack":
                raise RuntimeError(reply)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))


_SETS: dict[int, set[str]] = {}


def _hub_log() -> Any:
    """Where the hub's log goes: ``BENCH_HUB_LOG`` (a file, appended) or nowhere."""
    path = os.environ.get("BENCH_HUB_LOG")
    return open(path, "ab") if path else asyncio.subprocess.DEVNULL  # noqa: SIM115 - the hub's


def ids_set(ids: list[str]) -> set[str]:
    return _SETS.setdefault(id(ids), set(ids))


async def screen(url: str, probe: Probe, ready: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url) as c:
        r = await c.post("/auth/token", data={"username": "admin", "password": "bench-admin"})
        token = r.raise_for_status().json()["access_token"]
    ws_url = url.replace("http://", "ws://") + f"/ws/monitor?access_token={token}"
    async with websockets.connect(ws_url, max_size=2**26) as ws:
        ready.set()
        async for text in ws:
            frame = json.loads(text)
            for alert in frame.get("alerts", ()):
                if alert["state"] == "active":
                    probe.arrived(alert["patient_id"])


async def run(
    patients: int, bridges: int, seconds: float, warmup: float, postgres: str | None, redis: str
) -> dict[str, Any]:
    if postgres is None:
        folder = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
        return await _run(f"sqlite:///{folder / 'hub.db'}", {}, patients, bridges, seconds, warmup)
    from bench_ingest import postgres_backend  # bench/ is on sys.path when a bench runs

    prefix = f"bench-alerts-{secrets.token_hex(4)}:"
    async with postgres_backend(postgres, redis, prefix) as (url_db, redis_url, _):
        bus = {"TELEMED_REDIS_URL": redis_url or redis, "TELEMED_BUS_PREFIX": prefix}
        return await _run(url_db, bus, patients, bridges, seconds, warmup)


async def _run(
    url_db: str, bus: dict[str, str], patients: int, bridges: int, seconds: float, warmup: float
) -> dict[str, Any]:
    kiosks = await seed(url_db, patients, bridges)
    env = {**os.environ, "TELEMED_DATABASE_URL": url_db, **bus}
    hub_log = _hub_log()
    proc = await asyncio.create_subprocess_exec(
        *_telemed_command(), "serve", "--port", "0", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=hub_log,
    )  # fmt: skip
    assert proc.stdout is not None
    while not (line := (await proc.stdout.readline()).decode()).startswith("TELEMED_READY"):
        if not line:
            raise RuntimeError("hub did not start")
    url = line.split()[1]
    probe, stop, ready = Probe(warmup), asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(screen(url, probe, ready))
    await ready.wait()
    ws_url = url.replace("http://", "ws://")
    tasks = [
        asyncio.create_task(kiosk(ws_url, b, t, ids, probe, stop)) for b, (t, ids) in kiosks.items()
    ]
    unused = [f"b{i}" for i in range(patients)]
    busy = asyncio.create_task(_busy_pct(seconds - warmup))
    end = time.monotonic() + seconds
    await asyncio.sleep(warmup * 0 + 0.5)
    while time.monotonic() < end and unused:
        probe.queue.append(unused.pop())
        await asyncio.sleep(0.5)
    stop.set()
    await asyncio.sleep(3)  # the last probes arrive
    machine_busy = await busy
    for t in (*tasks, watcher):
        t.cancel()
    errors = [
        r
        for r in await asyncio.gather(*tasks, watcher, return_exceptions=True)
        if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
    ]
    proc.terminate()
    await proc.wait()
    if hub_log is not asyncio.subprocess.DEVNULL:
        hub_log.close()
    if errors:  # a kiosk or the screen that died would otherwise read as "no alerts"
        raise RuntimeError(f"{len(errors)} bench tasks failed; the first: {errors[0]!r}")
    lat = sorted(probe.latency_ms)
    lost = len(probe.sent)
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    return {"patients": patients, "probes": len(lat), "lost": lost, "p50_ms": q[49], "p99_ms": q[98],
            "max_ms": max(lat) if lat else float("nan"), "machine_busy_pct": machine_busy,
            "timeline": probe.timeline}  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--bridges", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--postgres", default=None, help="admin DSN: run on PostgreSQL + Redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--timeline", action="store_true", help="print each probe's latency")
    args = parser.parse_args()
    print(f"machine: {_cpu_model()}, {os.cpu_count()} CPUs, load before {os.getloadavg()[0]:.1f}")
    for n in args.patients:
        r = await run(n, args.bridges, args.seconds, args.warmup, args.postgres, args.redis_url)
        print(f"{r['patients']:>6} patients ({n} SpO2 readings/s): {r['probes']} alerts, p50 "
              f"{r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, max {r['max_ms']:.0f} ms, "
              f"{r['lost']} not arrived; machine busy {r['machine_busy_pct']:.0f} %")  # fmt: skip
        if args.timeline:
            print("  sent at s: latency ms  " + "  ".join(
                f"{at:.1f}:{ms:.0f}" for at, ms in r["timeline"]))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
