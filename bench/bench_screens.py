"""The screens under load, in Debian's Chromium: the group monitor with N live patients (frame
time, JS heap, websocket bytes per second) and the patient view's time to first chart on a
month of 1 Hz data.

    .venv/bin/python bench/bench_screens.py [--patients 500] [--seconds 30] [--rate 1]

A hub on SQLite (the embedded default) in this process; one kiosk bridge sends every patient's
heart rate and SpO2 ``--rate`` times a second over the real websocket protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _machine import _busy_pct, _cpu_model, _mem_total  # noqa: E402  (bench/ is on sys.path)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--enable-precise-memory-info"]  # fmt: skip


async def start(url: str) -> tuple[Any, str, Any]:
    import uvicorn

    from clinician_api.app import create_app
    from clinician_api.migrate import upgrade_async
    from clinician_api.settings import ServerSettings

    await upgrade_async(url)
    settings = ServerSettings(database_url=url, port=0, bus_prefix=f"b:{uuid.uuid4().hex}:")
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn has no event
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", task


async def seed(url: str, n: int) -> str:
    from patient_hub.accounts.service import create_user
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.patients import service as patients

    engine = make_engine(url)
    async with unit_of_work(make_sessionmaker(engine)) as s:
        await patients.ensure_telemedpoint(s, "tmp", "Point")
        for i in range(n):
            await patients.upsert_patient(
                s, f"b{i}", f"Bench {i:03d}", datetime.now(UTC), telemedpoint_id="tmp"
            )
        token = await patients.enrol_bridge(s, "kiosk", telemedpoint_id="tmp")
        await create_user(s, "admin", "pw-admin", "admin")
    await engine.dispose()
    return token


async def month_of_hr(url: str, patient: str) -> int:
    """30 days of 1 Hz heart rate for one patient, bulk-inserted (2.6 M rows)."""
    import sqlalchemy as sa

    from patient_hub.db import make_engine
    from patient_hub.ingest.models import ReadingRow

    engine = make_engine(url)
    now = datetime.now(UTC)
    start, total = now - timedelta(days=30), 30 * 86400
    async with engine.begin() as conn:
        for base in range(0, total, 100_000):
            rows = [
                {"bridge_id": "bulk", "seq": k + 1, "patient_id": patient, "device_id": "strap",
                 "kind": "heart_rate", "value": 60 + (k % 40), "unit": "/min",
                 "measured_at": start + timedelta(seconds=k), "stored_at": now, "flags": ""}
                for k in range(base, min(total, base + 100_000))
            ]  # fmt: skip
            await conn.execute(sa.insert(ReadingRow), rows)
    await engine.dispose()
    return total


async def feed(ws_url: str, token: str, n: int, rate: float, stop: asyncio.Event) -> int:
    sent = 0
    async with websockets.connect(ws_url + "/ws/bridge", max_size=2**24) as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "bridge_id": "kiosk", "token": token}))
        seq = json.loads(await ws.recv())["last_seq"]
        while not stop.is_set():
            tick = time.monotonic()
            at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            readings = []
            for i in range(n):
                for kind, unit, value in (
                    ("heart_rate", "/min", 60 + (seq + i) % 30),
                    ("spo2", "%", 94 + (seq + i) % 5),
                ):
                    seq += 1
                    readings.append({"seq": seq, "patient_id": f"b{i}", "device_id": f"d{i}",
                                     "kind": kind, "value": value, "unit": unit, "measured_at": at})  # fmt: skip
            await ws.send(
                json.dumps({"type": "batch", "v": 1, "batch_id": seq, "readings": readings})
            )
            await ws.recv()
            sent += len(readings)
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - tick)))
    return sent


FRAMES_JS = """(seconds) => new Promise((done) => {
  const gaps = []; let last = performance.now(); const end = last + seconds * 1000;
  const b0 = window.monitorBytes || 0;
  function tick(now) { gaps.push(now - last); last = now;
    if (now < end) requestAnimationFrame(tick);
    else done({gaps, bytes: (window.monitorBytes || 0) - b0, heap: performance.memory.usedJSHeapSize}); }
  requestAnimationFrame(tick);
})"""


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rate", type=float, default=1.0)
    ap.add_argument("--no-month", action="store_true", help="skip the month-of-1-Hz patient view")
    args = ap.parse_args()
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        server, hub, task = await start(url)
        token = await seed(url, args.patients)
        busy = await _busy_pct(2)
        print(
            f"machine: {_cpu_model()}, {os.cpu_count()} CPUs, {_mem_total()}; busy {busy:.0f} % "
            f"before the run; load average {os.getloadavg()[0]:.1f}"
        )
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            # The bench evaluates expressions in the page, which the screens' CSP forbids.
            page = await browser.new_page(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
            await page.goto(hub + "/login")
            await page.fill("input[name=username]", "admin")
            await page.fill("input[name=password]", "pw-admin")
            await page.click("button[type=submit]")
            await page.locator("#status.live").wait_for(timeout=60_000)
            await page.wait_for_function(
                f"document.querySelectorAll('.tile').length === {args.patients}"
            )
            stop = asyncio.Event()
            feeder = asyncio.create_task(
                feed(hub.replace("http", "ws"), token, args.patients, args.rate, stop)
            )
            await asyncio.sleep(3)  # warm-up: the screen is receiving before we measure
            result = await page.evaluate(FRAMES_JS, args.seconds)
            stop.set()
            sent = await feeder
            gaps = sorted(result["gaps"][1:])
            p95 = gaps[int(0.95 * (len(gaps) - 1))]
            print(
                f"/monitor, {args.patients} patients, {2 * args.patients * args.rate:.0f} readings/s for {args.seconds:.0f} s "
                f"({sent} sent): frames {len(gaps)}, frame time median {statistics.median(gaps):.1f} ms, "
                f"p95 {p95:.1f} ms, max {gaps[-1]:.1f} ms; JS heap {result['heap'] / 2**20:.1f} MiB; "
                f"websocket {result['bytes'] / args.seconds / 1024:.1f} KiB/s"
            )
            if args.no_month:
                await browser.close()
                server.should_exit = True
                await task
                return
            rows = await month_of_hr(url, "b0")
            page2 = await browser.new_page(
                viewport={"width": 1400, "height": 1000}, bypass_csp=True
            )
            await page2.context.add_cookies(await page.context.cookies())
            t0 = time.perf_counter()
            await page2.goto(f"{hub}/patients/b0")
            await page2.wait_for_function(
                "document.body.dataset.chartsReady === 'day'", timeout=120_000
            )
            first = time.perf_counter() - t0
            t1 = time.perf_counter()
            await page2.click("[data-range=month]")
            await page2.wait_for_function(
                "document.body.dataset.chartsReady === 'month'", timeout=120_000
            )
            month = time.perf_counter() - t1
            print(
                f"/patients/b0 with a month of 1 Hz heart rate ({rows} rows, SQLite): first chart "
                f"(day) {first * 1000:.0f} ms after navigation; month view {month * 1000:.0f} ms after the click"
            )
            await browser.close()
        server.should_exit = True
        await task


if __name__ == "__main__":
    asyncio.run(main())
