"""``telemed loadtest``: simulated patients against a platform, measured from the outside.

It starts the platform it measures (``telemed_cli.loadtest_platform``: the embedded default, or
``--cluster`` on PostgreSQL + Redis) unless ``--hub URL`` names a running one; enrols N
simulated patients (a mix: a tenth stream ECG from a chest strap, a few deteriorate so that
alerts fire); opens one ``/ws/monitor`` socket as an admin and waits for its hello; then runs the
bridges over real websockets. Figures:

* readings sent (what the bridges produced), stored and duplicates (the ingest nodes' ``/metrics``);
* readings/s: stored readings over the wall time from the first send to the drained outboxes;
* latency reading → monitor: monitor receipt − the reading's gateway receive time;
* latency reading → alert: monitor receipt of a new alert episode (the alert engine's, pushed to
  the screens) − monitor receipt of the newest reading of that patient before it (the rules,
  the episode's transaction and the fan-out after the deciding reading); reading → finding
  likewise for the signal worker's findings;
* server memory: the peak resident memory of the server processes (a platform it started).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import websockets

from telemed_cli.loadtest_ecg import backlog_s
from telemed_cli.loadtest_generators import (
    CRISIS,
    generator_count,
    plan,
    raise_open_file_limit,
    run_generators,
)
from telemed_cli.loadtest_platform import (
    Platform,
    rss_mib,
    start_cluster,
    start_embedded,
)
from telemed_cli.simulate import enrol, http_base

__all__ = ["CRISIS", "Watch", "measure", "note", "percentile", "run", "watch"]
#: How long the monitor socket may take to open: the hub may be busy with the bridges' own
#: handshakes (the websockets default of 10 s was too short at 1,000 patients).
MONITOR_OPEN_S = 60.0


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
    dropped: int = 0  # readings the hub told this screen it dropped (it fell behind)
    reconnects: int = 0
    error: str | None = None
    open: asyncio.Event = field(default_factory=asyncio.Event)  # the hub said hello


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)


async def ingest_counts(client: httpx.AsyncClient, ingest: list[str]) -> dict[str, float]:
    """Items stored and refused as duplicates, summed over the ingest nodes' ``/metrics``."""
    counts = {"stored": 0.0, "duplicate": 0.0}
    for url in ingest:
        text = (await client.get(url + "/metrics")).text
        for result in counts:
            if m := re.search(rf'telemed_ingest_items_total{{result="{result}"}} (\S+)', text):
                counts[result] += float(m.group(1))
    return counts


async def watch(url: str, token: str, seen: Watch, stop: asyncio.Event) -> None:
    """Follow the monitor socket until ``stop``. A socket that fails or drops is opened again
    (counted in ``reconnects``, the last failure kept in ``error``): one lost socket must not
    blind the rest of the run."""
    ws_url = url.replace("http://", "ws://").replace("https://", "wss://") + "/ws/monitor"
    while not stop.is_set():
        try:
            # No client pings: a load generator busy with its bridges would answer its own
            # pings late and close the socket it measures with; the hub pings it anyway.
            async with websockets.connect(
                f"{ws_url}?access_token={token}", max_size=2**24,
                open_timeout=MONITOR_OPEN_S, ping_interval=None,
            ) as ws:  # fmt: skip
                if json.loads(await ws.recv()).get("type") != "hello":
                    raise ValueError("the monitor socket did not say hello")
                seen.open.set()
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.5):
                            note(json.loads(await ws.recv()), seen, time.time())
        except (OSError, websockets.WebSocketException, ValueError) as exc:
            seen.error = f"{type(exc).__name__}: {exc}"
            if not stop.is_set():
                seen.reconnects += 1
                await asyncio.sleep(0.5)


def note(frame: dict[str, Any], seen: Watch, now: float) -> None:
    seen.dropped += int(frame.get("dropped_readings", 0))
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


def server_rss_mib(platform: Platform) -> float | None:
    sizes = [rss_mib(pid) for pid in platform.pids.values()]
    return round(sum(s for s in sizes if s is not None), 1) if any(sizes) else None


async def progress(
    seen: Watch, started: float, stop: asyncio.Event, platform: Platform, peak: list[float]
) -> None:
    """A line on stderr every 5 s; samples the servers' memory for its peak."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await stop.wait()
        if (rss := server_rss_mib(platform)) is not None:
            peak.append(rss)
        trouble = f" (monitor: {seen.reconnects} reconnects, {seen.error})" if seen.error else ""
        print(f"loadtest: {time.monotonic() - started:5.0f} s, {seen.readings:,} readings and "
              f"{seen.findings} findings and {seen.alerts} alerts seen on the monitor{trouble}",
              file=sys.stderr, flush=True)  # fmt: skip


async def run(
    patients: int,
    seconds: float,
    hub: str | None,
    *,
    cluster: tuple[str, str, tuple[int, int, int]] | None = None,
    ecg_streams: int = 0,
    generators: int | None = None,
) -> dict[str, Any]:
    """Start the platform (``cluster``: PostgreSQL server URL, Redis URL and the shape
    ``(ingest, workers, api)``), measure it, stop it. ``generators``: processes running the
    bridges (None: one per ``BRIDGES_PER_GENERATOR``)."""
    raise_open_file_limit()
    folder = Path(tempfile.mkdtemp(prefix="telemed-loadtest-"))
    if hub:
        url = http_base(hub)
        platform = Platform(url, [url], os.environ.get("TELEMED_ADMIN_PASSWORD", "demo"))
        platform.workers = [url]
    elif cluster:
        platform = await start_cluster(folder, patients, ecg_streams, *cluster)
    else:
        platform = await start_embedded(folder, patients, ecg_streams)
    try:
        report = await measure(platform, patients, seconds, folder, ecg_streams, generators)
        if cluster:
            report["nodes"] = platform.nodes
            report["database"] = platform.database
    except BaseException:
        print(f"loadtest: its files are kept in {folder}", file=sys.stderr, flush=True)
        raise
    finally:
        if platform.stop is not None:
            await platform.stop()
    # The bridges' outboxes, the hub's database and log: gigabytes after 5,000 patients.
    shutil.rmtree(folder, ignore_errors=True)
    return report


async def measure(
    platform: Platform,
    patients: int,
    seconds: float,
    folder: Path,
    ecg_streams: int = 0,
    generators: int | None = None,
) -> dict[str, Any]:
    bridges = platform.bridges or await enrol(platform.api, "admin", platform.password, patients)
    ecg = platform.ecg_bridges or await enrol(
        platform.api, "admin", platform.password, ecg_streams, prefix="sim-ecg"
    )
    async with httpx.AsyncClient(base_url=platform.api, timeout=30) as client:
        login = await client.post(
            "/auth/token", data={"username": "admin", "password": platform.password}
        )
        login.raise_for_status()
        before = await ingest_counts(client, platform.ingest)
        seen, stop, peak = Watch(), asyncio.Event(), list[float]()
        watcher = asyncio.create_task(watch(platform.api, login.json()["access_token"], seen, stop))
        await monitor_open(seen, watcher)
        started = time.monotonic()
        reporter = asyncio.create_task(progress(seen, started, stop, platform, peak))
        n = generators or generator_count(len(bridges) + len(ecg))
        try:
            sent = await run_generators(plan(platform.ingest, bridges, ecg, seconds, folder, n))
        except BaseException:
            stop.set()
            await asyncio.gather(watcher, reporter, return_exceptions=True)
            raise
        wall_s = sent["finished_at"] - sent["started_at"]
        backlog = await backlog_s(platform.workers) if platform.workers else None
        await asyncio.sleep(1.0)  # the last frames still on their way to the monitor
        if (rss := server_rss_mib(platform)) is not None:
            peak.append(rss)
        stop.set()
        await asyncio.gather(watcher, reporter, return_exceptions=True)
        after = await ingest_counts(client, platform.ingest)
    stored = int(after["stored"] - before["stored"])
    return {
        "patients": patients,
        "seconds": seconds,
        "ecg_streams": ecg_streams,
        "readings_sent": sent["produced"],
        "readings_stored": stored,
        "duplicates": int(after["duplicate"] - before["duplicate"]),
        "readings_per_s": round(stored / wall_s, 1),
        "latency_ms": pcts(seen.latencies_ms),
        "alert_latency_ms": pcts(seen.alert_latencies_ms),
        "finding_latency_ms": pcts(seen.finding_latencies_ms),
        "readings_on_monitor": seen.readings,
        "readings_dropped_for_monitor": seen.dropped,
        "alerts_on_monitor": seen.alerts,
        "findings_on_monitor": seen.findings,
        "monitor_reconnects": seen.reconnects,
        "monitor_error": seen.error,
        "server_rss_mib": max(peak) if peak else None,
        "worker_backlog_s": backlog,
        "wall_s": round(wall_s, 1),
        "hub": platform.api,
        "generators": n,
        # Bridges set up and connected (a few at a time) before they stream; not in wall_s.
        "connect_s": round(sent["online_at"] - sent["set_up_at"], 1),
        "ack_latency_ms": pcts(sent["ack_ms"]),  # bridge: batch sent → its ack
        "bridge_reconnects": sent["reconnects"],
        "batches_resent": sent["resent_batches"],  # their link failed before the ack
        "slow_acks": sent["slow_acks"],  # waited on past the ack timeout, not resent
    }


def pcts(values: list[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p99": percentile(values, 99)}


async def monitor_open(seen: Watch, watcher: asyncio.Task[None]) -> None:
    """Until the monitor socket said hello: the bridges start only then, so that the monitor
    sees the run from its first reading; a monitor that cannot open stops the run."""
    opened = asyncio.create_task(seen.open.wait())
    try:
        async with asyncio.timeout(MONITOR_OPEN_S + 5):
            while not seen.open.is_set():
                await asyncio.wait(
                    {opened, watcher}, timeout=1, return_when=asyncio.FIRST_COMPLETED
                )
                if not seen.open.is_set() and (watcher.done() or seen.reconnects >= 3):
                    raise RuntimeError(f"the monitor socket did not open: {seen.error}")
    except TimeoutError:
        raise RuntimeError(f"the monitor socket did not open: {seen.error}") from None
    finally:
        opened.cancel()
