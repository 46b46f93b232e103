"""``telemed loadtest``: simulated patients against a platform, measured from the outside.

It starts the platform it measures (the embedded default: a fresh SQLite file, one ``telemed
serve`` process) unless ``--hub URL`` names a running one; enrols N simulated patients (a mix: a
tenth stream ECG from a chest strap, a few deteriorate so that alerts fire); runs their bridges
over real websockets; and watches one ``/ws/monitor`` socket as an admin. Figures:

* readings sent (what the bridges produced), stored and duplicates (the hub's ``/metrics``);
* readings/s: stored readings over the wall time from the first send to the drained outboxes;
* latency reading → monitor: monitor receipt − the reading's gateway receive time;
* latency reading → alert: monitor receipt of a new alert episode (the alert engine's, pushed to
  the screens) − monitor receipt of the newest reading of that patient before it (the rules,
  the episode's transaction and the fan-out after the deciding reading); reading → finding
  likewise for the signal worker's findings;
* server memory: the hub process's RSS (local platform only).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import websockets

from telemed_cli.simulate import enrol, http_base, run_bridges

#: The admin of a platform the load test starts itself: random, so the password policy takes it.
ADMIN_PASSWORD = secrets.token_urlsafe(18)


@dataclass
class Watch:
    """What the monitor socket saw."""

    latencies_ms: list[float] = field(default_factory=list)
    alert_latencies_ms: list[float] = field(default_factory=list)
    finding_latencies_ms: list[float] = field(default_factory=list)
    last_reading_at: dict[str, float] = field(default_factory=dict)
    alert_ids: set[int] = field(default_factory=set)
    readings: int = 0
    alerts: int = 0
    findings: int = 0
    error: str | None = None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)


async def start_platform(folder: Path) -> tuple[asyncio.subprocess.Process, str]:
    """A fresh embedded platform: SQLite file, an admin account, ``telemed serve --port 0``."""
    env = {**os.environ, "TELEMED_DATABASE_URL": f"sqlite:///{folder / 'hub.db'}"}
    add = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telemed_cli.main", "user", "add", "admin", "--role", "admin",
        env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await add.communicate((ADMIN_PASSWORD + "\n").encode())
    if add.returncode != 0:
        raise RuntimeError(f"could not create the load test's admin account ({add.returncode})")
    # Its JSON log lines go to a file: a pipe nobody reads after the start would fill up and
    # block the hub on its next log line. Stdout carries only the few start-up lines.
    with (folder / "hub.log").open("ab") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "telemed_cli.main", "serve", "--port", "0",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=log_file,
        )  # fmt: skip
    assert proc.stdout is not None
    async with asyncio.timeout(120):
        while line := (await proc.stdout.readline()).decode():
            if match := re.search(r"TELEMED_READY (\S+)", line):
                return proc, match.group(1)
    raise RuntimeError(f"telemed serve exited before it was ready (see {folder / 'hub.log'})")


def rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


async def ingest_counts(client: httpx.AsyncClient) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    counts = {"stored": 0.0, "duplicate": 0.0}
    for result in counts:
        if m := re.search(rf'telemed_ingest_items_total{{result="{result}"}} (\S+)', text):
            counts[result] = float(m.group(1))
    return counts


async def watch(url: str, token: str, seen: Watch, stop: asyncio.Event) -> None:
    """Follow the monitor socket until ``stop``; a failure is reported, not hidden."""
    ws_url = url.replace("http://", "ws://").replace("https://", "wss://") + "/ws/monitor"
    try:
        async with websockets.connect(f"{ws_url}?access_token={token}", max_size=2**24) as ws:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        frame = json.loads(await ws.recv())
                        note(frame, seen, time.time())
    except (OSError, websockets.WebSocketException, ValueError) as exc:
        seen.error = f"{type(exc).__name__}: {exc}"


def note(frame: dict[str, Any], seen: Watch, now: float) -> None:
    for r in frame.get("readings", []):
        at = r.get("received_at") or r.get("measured_at")
        if at and "derived" not in r.get("flags", []):
            seen.latencies_ms.append(1000 * (now - datetime.fromisoformat(at).timestamp()))
            seen.readings += 1
            seen.last_reading_at[r["patient_id"]] = now
    for f in frame.get("findings", []):
        seen.findings += 1
        if (last := seen.last_reading_at.get(f.get("patient_id", ""))) is not None:
            seen.finding_latencies_ms.append(1000 * (now - last))
    for a in frame.get("alerts", []):  # an episode is pushed again on every change: count its first
        if a.get("state") != "active" or a.get("id") in seen.alert_ids:
            continue
        seen.alert_ids.add(a.get("id"))
        seen.alerts += 1
        if (last := seen.last_reading_at.get(a.get("patient_id", ""))) is not None:
            seen.alert_latencies_ms.append(1000 * (now - last))


async def progress(seen: Watch, started: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await stop.wait()
        print(f"loadtest: {time.monotonic() - started:5.0f} s, {seen.readings:,} readings and "
              f"{seen.findings} findings and {seen.alerts} alerts seen on the monitor",
              file=sys.stderr, flush=True)  # fmt: skip


async def run(patients: int, seconds: float, hub: str | None) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="telemed-loadtest-"))
    proc, url = (None, http_base(hub)) if hub else await start_platform(folder)
    password = os.environ.get("TELEMED_ADMIN_PASSWORD", ADMIN_PASSWORD) if hub else ADMIN_PASSWORD
    try:
        return await _measure(url, password, patients, seconds, folder, proc.pid if proc else None)
    finally:
        if proc is not None:
            proc.terminate()
            await proc.wait()


async def _measure(
    url: str, password: str, patients: int, seconds: float, folder: Path, pid: int | None
) -> dict[str, Any]:
    bridges = await enrol(url, "admin", password, patients)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        login = await client.post("/auth/token", data={"username": "admin", "password": password})
        login.raise_for_status()
        before = await ingest_counts(client)
        seen, stop = Watch(), asyncio.Event()
        started = time.monotonic()
        watchers = [asyncio.create_task(watch(url, login.json()["access_token"], seen, stop)),
                    asyncio.create_task(progress(seen, started, stop))]  # fmt: skip
        ecg = [b for i, b in enumerate(bridges) if i % 10 == 0]
        rest = [b for i, b in enumerate(bridges) if i % 10 != 0]
        crisis = {b.patient_id: "hypertensive_crisis" for i, b in enumerate(bridges) if i % 20 == 1}
        drain_s = max(60.0, 4 * seconds)
        runs = [run_bridges(url, group, seconds=seconds, outbox_dir=folder / "outbox", ecg=flag,
                            scenarios=crisis, drain_timeout_s=drain_s)
                for group, flag in ((ecg, True), (rest, False)) if group]  # fmt: skip
        produced = await asyncio.gather(*runs)
        wall_s = time.monotonic() - started
        await asyncio.sleep(1.0)  # the last frames still on their way to the monitor
        stop.set()
        await asyncio.gather(*watchers, return_exceptions=True)
        after = await ingest_counts(client)
    stored = int(after["stored"] - before["stored"])
    return {
        "patients": patients,
        "seconds": seconds,
        "readings_sent": sum(sum(p.values()) for p in produced),
        "readings_stored": stored,
        "duplicates": int(after["duplicate"] - before["duplicate"]),
        "readings_per_s": round(stored / wall_s, 1),
        "latency_ms": {
            "p50": percentile(seen.latencies_ms, 50),
            "p99": percentile(seen.latencies_ms, 99),
        },  # fmt: skip
        "alert_latency_ms": {
            "p50": percentile(seen.alert_latencies_ms, 50),
            "p99": percentile(seen.alert_latencies_ms, 99),
        },  # fmt: skip
        "finding_latency_ms": {
            "p50": percentile(seen.finding_latencies_ms, 50),
            "p99": percentile(seen.finding_latencies_ms, 99),
        },  # fmt: skip
        "readings_on_monitor": seen.readings,
        "alerts_on_monitor": seen.alerts,
        "findings_on_monitor": seen.findings,
        "monitor_error": seen.error,
        "server_rss_mib": rss_mib(pid),
        "wall_s": round(wall_s, 1),
        "hub": url,
    }
