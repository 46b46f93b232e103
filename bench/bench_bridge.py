#!/usr/bin/env python
"""Bridge benchmark: device notification → pipeline → outbox → uplink → hub ack (issue 3).

Run from the repository root::

    .venv/bin/python bench/bench_bridge.py [--devices 10] [--seconds 30] [--rate-hz 0]
                                           [--batch 500] [--quick] [--tracemalloc]

It answers "how many readings/s does one bridge sustain from notification to hub ack, and how
much memory does it use, with N devices streaming":

1. a fresh SQLite hub database is migrated and seeded with one patient and one home bridge, and
   a real hub is started as a subprocess (``telemed serve --port 0``, in-process bus);
2. the bridge under test runs alone in ONE child process (this script with ``--child``), so its
   RSS, peak RSS and CPU are its own: N simulated devices (one Polar H10 ECG stream, heart-rate
   straps 0x2A37 with RR intervals, continuous pulse oximeters 0x2A5F; spec-exact bytes from
   ``device_bridge.gatt.encode`` / ``device_bridge.polar``) call ``BridgePipeline.on_payload``
   from the bridge's event loop, as the BLE link does, while the real ``Uplink`` drains the
   outbox to the hub over a websocket;
3. devices fire as fast as the bridge accepts (``--rate-hz 0``: one notification per device per
   event-loop turn) or at ``--rate-hz`` each, for ``--seconds``; then they stop and the bridge
   drains its outbox;
4. the hub's database is checked: every sequence number the outbox assigned (its
   ``sqlite_sequence``) is stored exactly once.

Latency is measured per item by a thin ``Outbox`` subclass (no behaviour of the pipeline, outbox
or uplink is replaced; an ``Uplink`` subclass only notes when ``ws.send`` returned): the device stamps the notification time before calling ``on_payload``;
``append`` (the one commit of what the notification parsed to) records the seq range it was
given; ``pending`` (the uplink picking a batch) records when the batch was picked; and
``delete`` (which the uplink calls only once the hub's ack for that batch arrived) is the ack
time of every seq in it. Latencies go to log-spaced histograms (2 % buckets), so the bench's own
memory does not grow with the run; the per-notification bookkeeping for unacked items (24 bytes
each) is reported so it can be subtracted from the RSS.

This is a benchmark, not a test: it prints figures and exits non-zero only when a run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

from _machine import (  # bench/ is on sys.path when a bench runs as a script
    _busy_pct,
    _cpu_model,
    _machine_ticks,
    _mem_total,
    _proc_cpu_s,
    _telemed_command,
)

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

READY_RE = re.compile(r"TELEMED_READY\s+(https?://\S+)")
EXC_RE = re.compile(r"^\s*([A-Za-z_.]*(?:Error|Exception|Exit|Interrupt)): (.*)$")
PATIENT_ID = "bench-bridge-patient"
BRIDGE_ID = "bench-bridge"
RESULT_TAG = "BRIDGE_RESULT "


# --------------------------------------------------------------------------- small utilities


class Hist:
    """Log-spaced histogram of durations in seconds: 2 % buckets from 1 µs to ~1 h."""

    BASE = 1e-6
    STEP = math.log(1.02)
    SIZE = 1120

    def __init__(self) -> None:
        self.counts = [0] * self.SIZE
        self.n = 0
        self.total = 0.0
        self.max = 0.0

    def add(self, x: float, weight: int = 1) -> None:
        if x <= self.BASE:
            b = 0
        else:
            b = min(self.SIZE - 1, int(math.log(x / self.BASE) / self.STEP) + 1)
        self.counts[b] += weight
        self.n += weight
        self.total += x * weight
        if x > self.max:
            self.max = x

    def pct(self, q: float) -> float:
        if not self.n:
            return float("nan")
        target = max(1.0, q / 100 * self.n)
        cum = 0
        for b, c in enumerate(self.counts):
            cum += c
            if cum >= target:
                mid = self.BASE if b == 0 else self.BASE * math.exp((b - 0.5) * self.STEP)
                return min(mid, self.max)
        return self.max

    def summary(self) -> dict[str, float]:
        return {
            "n": self.n,
            "mean": self.total / self.n if self.n else float("nan"),
            "p50": self.pct(50),
            "p95": self.pct(95),
            "p99": self.pct(99),
            "p999": self.pct(99.9),
            "max": self.max if self.n else float("nan"),
        }


def _proc_status_kib(field: str, pid: int | str = "self") -> int | None:
    """A ``VmRSS``/``VmHWM``-style line of /proc/<pid>/status, in KiB."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("websockets", "uvicorn", "fastapi", "sqlalchemy", "pydantic"):
        with contextlib.suppress(PackageNotFoundError):
            out.append(f"{name} {version(name)}")
    return ", ".join(out) + f", SQLite {sqlite3.sqlite_version}"


def machine_info() -> list[tuple[str, str]]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return [
        ("nproc", f"{affinity or os.cpu_count()} (os.cpu_count {os.cpu_count()})"),
        ("cpu", _cpu_model()),
        ("memory", _mem_total()),
        ("python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
        ("platform", platform.platform()),
        ("libraries", _versions()),
        ("load average (1/5/15 min) at start", _loadavg()),
    ]


# =========================================================================== the bridge (child)


def build_devices(n: int, seed: int) -> list[Any]:
    """N simulated devices: device 0 is a Polar H10 ECG stream, then straps and oximeters."""
    from device_bridge import polar
    from device_bridge.gatt import encode
    from device_bridge.pipeline import DeviceBinding
    from device_bridge.simulator import HEART_RATE, PLX_CONTINUOUS, synthetic_ecg_uv

    rng = random.Random(seed)
    devices = []
    for i in range(n):
        kind = "ecg" if i == 0 else ("hr" if i % 2 else "spo2")
        address = f"SIM-BENCH-{kind.upper()}-{i:02d}"
        profile = {"ecg": "polar_h10", "hr": "heart_rate_strap", "spo2": "pulse_oximeter"}[kind]
        binding = DeviceBinding(address, PATIENT_ID, f"{kind}-{i}", profile)
        ring: list[bytes] = []
        if kind == "ecg":
            samples = synthetic_ecg_uv(rng.uniform(60, 90), polar.ECG_SAMPLE_RATE_HZ, 73 * 32, 0.0)
            for k in range(0, len(samples), 73):
                frame = polar.encode_ecg_frame(0, samples[k : k + 73])
                ring.append(frame[polar.ECG_HEADER_SIZE :])
            characteristic = polar.PMD_DATA_UUID
        else:
            hr = rng.uniform(60, 90)
            spo2 = rng.uniform(94, 99)
            for _ in range(256):
                hr = min(140.0, max(45.0, hr + rng.gauss(0, 1.5)))
                spo2 = min(100.0, max(88.0, spo2 + rng.gauss(0, 0.4)))
                if kind == "hr":
                    beats = 2 if rng.random() < hr / 60 - 1 else 1  # ~1 Hz notifications
                    rr = [60000 / hr + rng.gauss(0, 15) for _ in range(beats)]
                    ring.append(encode.encode_heart_rate(round(hr), rr_ms=rr, contact=True))
                else:
                    ring.append(encode.encode_plx_continuous(round(spo2), round(hr)))
            characteristic = HEART_RATE if kind == "hr" else PLX_CONTINUOUS
        devices.append(SimDevice(i, kind, address, characteristic, binding, ring, rng))
    return devices


class SimDevice:
    """One device: a ring of pre-encoded notifications (ECG: fresh sensor timestamp each)."""

    FRAME_NS = int(73 * 1e9 / 130)

    def __init__(
        self,
        index: int,
        kind: str,
        address: str,
        characteristic: str,
        binding: Any,
        ring: list[bytes],
        rng: random.Random,
    ) -> None:
        self.index, self.kind, self.address = index, kind, address
        self.characteristic, self.binding, self.ring = characteristic, binding, ring
        self.k = 0
        self.ts_ns = rng.randrange(10**16, 10**17)  # strap clock: ns since 2000-01-01
        self.notifications = 0

    def next_payload(self) -> bytes:
        body = self.ring[self.k % len(self.ring)]
        self.k += 1
        if self.kind != "ecg":
            return body
        self.ts_ns += self.FRAME_NS
        # PMD data: measurement type ECG (0) | sensor timestamp u64 LE | frame type 0 | samples.
        return b"\x00" + self.ts_ns.to_bytes(8, "little") + b"\x00" + body


def make_timed_outbox(path: Path, max_items: int) -> Any:
    """The real Outbox, with timestamps taken where the pipeline and the uplink call it."""
    from device_bridge.outbox import Outbox

    class TimedOutbox(Outbox):
        def __init__(self) -> None:
            super().__init__(path, max_items=max_items)
            self.note_t = 0.0  # set by the device right before it calls on_payload
            self.starts = array("q")
            self.ends = array("q")
            self.times = array("d")
            self.head = 0
            self.next_unacked = 0
            self.pick_t = 0.0
            self.sent_t = 0.0  # set by TimedUplink when the batch is on the socket
            self.busy_s = 0.0  # sum of pick → ack: time a batch was being prepared or in flight
            self.stored_items = 0
            self.stored_readings = 0
            self.stored_chunks = 0
            self.acked_items = 0
            self.t_first_store: float | None = None
            self.t_last_ack: float | None = None
            self.lat_total = Hist()  # notification → hub ack, per item
            self.lat_store = Hist()  # notification → committed in the outbox, per item
            self.lat_wait = Hist()  # notification → picked into a batch by the uplink, per item
            self.batch_rtt = Hist()  # batch picked → its ack, per batch
            self.batch_prep = Hist()  # picked → handed to the websocket (JSON, deflate, send)
            self.batch_wire = Hist()  # handed to the websocket → ack parsed (hub + network + loop)
            self.batch_sizes: list[int] = []
            self.s_pending = 0.0
            self.s_delete = 0.0
            self.mismatched_acks = 0
            self.seq_gaps = 0
            self.track_bytes_max = 0

        def append(self, items: Any) -> list[int]:
            items = list(items)
            seqs = super().append(items)
            if seqs:
                t = time.perf_counter()
                n = len(seqs)
                if seqs[-1] - seqs[0] + 1 != n:
                    self.seq_gaps += 1
                if self.t_first_store is None:
                    self.t_first_store = self.note_t
                    self.next_unacked = seqs[0]
                self.starts.append(seqs[0])
                self.ends.append(seqs[-1])
                self.times.append(self.note_t)
                self.stored_items += n
                chunks = sum(1 for kind, _ in items if kind == "chunk")
                self.stored_chunks += chunks
                self.stored_readings += n - chunks
                self.lat_store.add(t - self.note_t, n)
                live = (len(self.ends) - self.head) * 24
                if live > self.track_bytes_max:
                    self.track_bytes_max = live
            return seqs

        def pending(self, limit: int, *, newest_first: bool = False) -> Any:
            t0 = time.perf_counter()
            items = super().pending(limit, newest_first=newest_first)
            self.s_pending += time.perf_counter() - t0
            if items:
                self.pick_t = t0
            return items

        def delete(self, seqs: Any) -> None:
            t_ack = time.perf_counter()  # the uplink deletes right after parsing the hub's ack
            super().delete(seqs)
            self.s_delete += time.perf_counter() - t_ack
            self.t_last_ack = t_ack
            self.batch_rtt.add(t_ack - self.pick_t)
            self.busy_s += t_ack - self.pick_t
            if self.sent_t >= self.pick_t:
                self.batch_prep.add(self.sent_t - self.pick_t)
                self.batch_wire.add(t_ack - self.sent_t)
            self.batch_sizes.append(len(seqs))
            hi = max(seqs)
            matched = 0
            starts, ends, times = self.starts, self.ends, self.times
            while self.head < len(ends) and starts[self.head] <= hi:
                lo = max(starts[self.head], self.next_unacked)
                top = min(ends[self.head], hi)
                k = top - lo + 1
                if k > 0:
                    t_note = times[self.head]
                    self.lat_total.add(t_ack - t_note, k)
                    self.lat_wait.add(self.pick_t - t_note, k)
                    matched += k
                    self.next_unacked = top + 1
                if ends[self.head] > hi:
                    break
                self.head += 1
            if matched != len(seqs):
                self.mismatched_acks += 1  # the uplink acked something other than the oldest
            self.acked_items += len(seqs)
            if self.head > 65_536 and 2 * self.head > len(ends):
                del starts[: self.head], ends[: self.head], times[: self.head]
                self.head = 0

    return TimedOutbox()


def make_timed_uplink(cfg: dict[str, Any], outbox: Any) -> Any:
    """The real Uplink; only notes when a batch has been handed to the websocket."""
    from device_bridge.uplink import Uplink
    from telemed_core.protocol import Ack

    class TimedUplink(Uplink):
        async def _expect(self, ws: Any, *kinds: type) -> object:
            # _send_batch awaits the ack right after ws.send returned: the batch is on its way.
            if Ack in kinds:
                outbox.sent_t = time.perf_counter()
            return await super()._expect(ws, *kinds)

    return TimedUplink(cfg["ws_url"], BRIDGE_ID, cfg["token"], outbox, batch_size=cfg["batch"])


def _top_allocations(snapshot: Any) -> list[str]:
    out = []
    for stat in snapshot.statistics("lineno")[:10]:
        frame = stat.traceback[0]
        out.append(
            f"{stat.size / 1024:,.0f} KiB in {stat.count:,} blocks: "
            f"{os.path.relpath(frame.filename, REPO)}:{frame.lineno}"
        )
    return out


def _file_sizes(db_path: str) -> dict[str, int]:
    files = {}
    for suffix in ("", "-wal", "-shm"):
        p = Path(db_path + suffix)
        files[suffix or "db"] = p.stat().st_size if p.exists() else 0
    return files


def _rss_kib() -> int:
    return _proc_status_kib("VmRSS") or 0


def _cpu_now() -> float:
    t = os.times()
    return t.user + t.system


async def bridge_child(cfg: dict[str, Any]) -> dict[str, Any]:
    """The bridge under test; returns its figures (printed as one JSON line)."""
    import logging
    import resource
    import tracemalloc

    from device_bridge.pipeline import BridgePipeline
    from telemed_core.values import utc_now

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    outbox = make_timed_outbox(Path(cfg["outbox"]), cfg["max_outbox"])
    devices = build_devices(cfg["devices"], cfg["seed"])
    pipeline = BridgePipeline(outbox, {d.address: d.binding for d in devices})
    uplink = make_timed_uplink(cfg, outbox)
    stop_link = asyncio.Event()
    link_started = [0.0]

    async def start_link() -> None:
        link_started[0] = time.perf_counter()
        await uplink.run(stop_link)

    link: asyncio.Task[None] | None = None
    if not cfg["link_delay"]:
        link = asyncio.create_task(start_link())
        for _ in range(1500):  # up to 30 s for the websocket handshake
            if uplink.status.state == "online" or link.done():
                break
            await asyncio.sleep(0.02)
        if uplink.status.state != "online":
            if link.done():
                link.result()
            state, error = uplink.status.state, uplink.status.last_error
            raise RuntimeError(f"uplink not online: {state} {error}")

    rss_setup = _rss_kib()
    print("BRIDGE_READY", flush=True)
    await reader.readline()  # the parent's "go", after it measured the machine's load

    rate = cfg["rate_hz"]
    seconds = cfg["seconds"]
    if cfg["tracemalloc"]:
        tracemalloc.start(8)
    samples: list[tuple[float, int, int, int, int, int, float]] = []
    lags = Hist()
    t0 = time.perf_counter()
    cpu0 = _cpu_now()
    deadline = t0 + seconds
    s_payload = [0.0]
    quarantined_before = outbox.quarantine_count()

    async def drive(dev: SimDevice) -> None:
        period = 1.0 / rate if rate else 0.0
        due = t0 + period * dev.index / max(1, len(devices))  # staggered phases
        on_payload = pipeline.on_payload
        while True:
            now = time.perf_counter()
            if now >= deadline:
                return
            if rate:
                if now < due:
                    await asyncio.sleep(min(due, deadline) - now)
                    continue
                note_t = due  # the notification was due then: event-loop delay counts
                lags.add(now - due)
                due += period
            else:
                note_t = now
            payload = dev.next_payload()
            outbox.note_t = note_t
            a = time.perf_counter()
            on_payload(dev.address, dev.characteristic, payload, utc_now())
            s_payload[0] += time.perf_counter() - a
            dev.notifications += 1
            if not rate:
                await asyncio.sleep(0)  # let the other devices and the uplink run

    async def sample(until: asyncio.Event) -> None:
        while not until.is_set():
            n = sum(d.notifications for d in devices)
            samples.append(
                (
                    time.perf_counter() - t0,
                    n,
                    outbox.stored_items,
                    outbox.acked_items,
                    outbox.depth(),
                    _rss_kib(),
                    _cpu_now() - cpu0,
                )
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), 0.25)

    print("BRIDGE_STREAMING", flush=True)
    done_sampling = asyncio.Event()
    sampler = asyncio.create_task(sample(done_sampling))
    if link is None:  # --link-delay: the outbox fills first, as after a network outage

        async def late_link() -> None:
            await asyncio.sleep(cfg["link_delay"])
            await start_link()

        link = asyncio.create_task(late_link())
    await asyncio.gather(*(drive(d) for d in devices))
    t_stream_end = time.perf_counter()
    rss_stream_end = _rss_kib()
    acked_at_stream_end = outbox.acked_items
    depth_at_stream_end = outbox.depth()
    top_allocs: list[str] = []
    traced = (0, 0)
    if cfg["tracemalloc"]:
        traced = tracemalloc.get_traced_memory()
        top_allocs = _top_allocations(tracemalloc.take_snapshot())
        tracemalloc.stop()
    print("BRIDGE_STREAM_END", flush=True)

    drained = True
    try:
        async with asyncio.timeout(cfg["drain_timeout"]):
            await outbox.drained.wait()
    except TimeoutError:
        drained = False
    t_drained = time.perf_counter()
    cpu1 = _cpu_now()
    done_sampling.set()
    await sampler
    samples.append(
        (
            t_drained - t0,
            sum(d.notifications for d in devices),
            outbox.stored_items,
            outbox.acked_items,
            outbox.depth(),
            _rss_kib(),
            cpu1 - cpu0,
        )
    )
    rss_drained = _rss_kib()
    stop_link.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(link, 10)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    status = uplink.status
    files = _file_sizes(cfg["outbox"])
    quarantined = outbox.quarantine_count() - quarantined_before
    outbox.close()
    t_first = outbox.t_first_store
    return {
        "t0": t0,
        "t_first_note": (t_first - t0) if t_first is not None else None,
        "t_stream_end": t_stream_end - t0,
        "t_last_ack": (outbox.t_last_ack - t0) if outbox.t_last_ack is not None else None,
        "t_drained": t_drained - t0,
        "drained": drained,
        "notifications": {d.kind + str(d.index): d.notifications for d in devices},
        "notifications_total": sum(d.notifications for d in devices),
        "stored_items": outbox.stored_items,
        "stored_readings": outbox.stored_readings,
        "stored_chunks": outbox.stored_chunks,
        "acked_items": outbox.acked_items,
        "acked_at_stream_end": acked_at_stream_end,
        "depth_at_stream_end": depth_at_stream_end,
        "depth_final": outbox.depth(),
        "quarantined": quarantined,
        "lat_total": outbox.lat_total.summary(),
        "lat_store": outbox.lat_store.summary(),
        "lat_wait": outbox.lat_wait.summary(),
        "batch_rtt": outbox.batch_rtt.summary(),
        "batch_prep": outbox.batch_prep.summary(),
        "batch_wire": outbox.batch_wire.summary(),
        "uplink_busy_s": outbox.busy_s,
        "link_started": max(0.0, link_started[0] - t0),
        "lags": lags.summary(),
        "batches": len(outbox.batch_sizes),
        "batch_mean": (
            sum(outbox.batch_sizes) / len(outbox.batch_sizes) if outbox.batch_sizes else 0
        ),
        "batch_full": sum(1 for b in outbox.batch_sizes if b == cfg["batch"]),
        "s_payload": s_payload[0],
        "s_pending": outbox.s_pending,
        "s_delete": outbox.s_delete,
        "mismatched_acks": outbox.mismatched_acks,
        "seq_gaps": outbox.seq_gaps,
        "track_bytes_max": outbox.track_bytes_max,
        "rss_setup_kib": rss_setup,
        "rss_stream_end_kib": rss_stream_end,
        "rss_drained_kib": rss_drained,
        "hwm_kib": _proc_status_kib("VmHWM"),
        "ru_maxrss_kib": usage.ru_maxrss,
        "cpu_s": cpu1 - cpu0,
        "cpu_total_s": usage.ru_utime + usage.ru_stime,
        "ctx_switches": [usage.ru_nvcsw, usage.ru_nivcsw],
        "uplink": {
            "sent": status.sent_items,
            "acked": status.acked_items,
            "duplicates": status.duplicates,
            "reconnects": status.reconnects,
            "last_error": status.last_error,
            "rejected": status.rejected[:3],
        },
        "outbox_files": files,
        "traced": list(traced),
        "top_allocs": top_allocs,
        "samples": samples,
    }


def child_main(cfg_json: str) -> int:
    cfg = json.loads(cfg_json)
    result = asyncio.run(bridge_child(cfg))
    print(RESULT_TAG + json.dumps(result), flush=True)
    return 0


# =========================================================================== the parent


async def seed(database_url: str) -> str:
    """Schema at head, one patient and one home bridge; returns the bridge's token."""
    from clinician_api.migrate import upgrade_async
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.patients import service as patients
    from telemed_core.values import utc_now

    await upgrade_async(database_url)
    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            await patients.upsert_patient(s, PATIENT_ID, "Bridge bench patient", utc_now())
            token = await patients.enrol_bridge(s, BRIDGE_ID, patient_id=PATIENT_ID)
    finally:
        await engine.dispose()
    return token


class Hub:
    """``telemed serve --port 0`` in a subprocess (as bench_ingest.py runs it)."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, lines: Any) -> None:
        self.proc, self.url, self.lines = proc, url, lines
        self.tracebacks = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.ws_url = url.replace("http://", "ws://", 1) + "/ws/bridge"
        self._drain = asyncio.create_task(self._keep_reading())

    @classmethod
    async def start(cls, database_url: str) -> Hub:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMED_")}
        env.update(TELEMED_DATABASE_URL=database_url, PYTHONUNBUFFERED="1", COLUMNS="200")
        env["TELEMED_BUS_PREFIX"] = f"bench:{secrets.token_hex(6)}:"
        cmd = [*_telemed_command(), "serve", "--host", "127.0.0.1", "--port", "0"]
        cmd += ["--database-url", database_url]
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=str(REPO),
            env=env,
        )
        assert proc.stdout is not None
        lines: collections.deque[str] = collections.deque(maxlen=200)
        deadline = time.monotonic() + 60
        while True:
            try:
                raw = await asyncio.wait_for(
                    proc.stdout.readline(), max(deadline - time.monotonic(), 0.01)
                )
            except TimeoutError:
                raw = b""
            if not raw:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                tail = "\n".join(lines)
                raise RuntimeError(f"hub did not become ready (exit {proc.returncode}):\n{tail}")
            line = raw.decode(errors="replace").rstrip()
            lines.append(line)
            if match := READY_RE.search(line):
                return cls(proc, match.group(1), lines)

    async def _keep_reading(self) -> None:
        assert self.proc.stdout is not None
        while raw := await self.proc.stdout.readline():
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if "Traceback (most recent call last)" in line:
                self.tracebacks += 1
            elif match := EXC_RE.match(line):
                self.errors[f"{match.group(1)}: {match.group(2)[:100]}"] += 1

    def cpu_s(self) -> float | None:
        return _proc_cpu_s(self.proc.pid)

    def rss_kib(self) -> int | None:
        return _proc_status_kib("VmRSS", self.proc.pid)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._drain, 5)


def verify(hub_db: Path, outbox_db: Path) -> dict[str, Any]:
    """What the hub stored for the bridge against what the outbox assigned and still holds."""
    out: dict[str, Any] = {}
    with contextlib.closing(sqlite3.connect(outbox_db)) as db:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        base = db.execute("SELECT seq_base FROM numbering").fetchone()
        # Wire numbers are the hub-reserved base + the outbox's ids (docs/protocol.md).
        out["seq_base"] = int(base[0]) if base else 0
        out["outbox_max_seq"] = int(row[0]) if row else 0
        out["outbox_left"] = int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
        out["raw_left"] = int(db.execute("SELECT count(*) FROM raw").fetchone()[0])
        out["quarantine"] = int(db.execute("SELECT count(*) FROM quarantine").fetchone()[0])
    with contextlib.closing(sqlite3.connect(hub_db)) as db:
        for table in ("readings", "sample_chunks"):
            n, distinct, lo, hi = db.execute(
                f"SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM {table} "
                "WHERE bridge_id = ?",
                (BRIDGE_ID,),
            ).fetchone()
            out[table] = {"rows": n, "distinct": distinct, "min": lo, "max": hi}
        (out["distinct_seqs"], out["min_seq"], out["max_seq"]) = db.execute(
            "SELECT count(*), min(seq), max(seq) FROM (SELECT seq FROM readings WHERE "
            "bridge_id = ? UNION SELECT seq FROM sample_chunks WHERE bridge_id = ?)",
            (BRIDGE_ID, BRIDGE_ID),
        ).fetchone()
    rows = out["readings"]["rows"] + out["sample_chunks"]["rows"]
    out["rows"] = rows
    m, base = out["outbox_max_seq"], out["seq_base"]
    out["ok"] = (
        m > 0
        and rows == m
        and out["distinct_seqs"] == m
        and out["min_seq"] == base + 1
        and out["max_seq"] == base + m
        and out["outbox_left"] == 0
        and out["raw_left"] == 0
    )
    return out


async def _expect(stream: asyncio.StreamReader, tag: str, within_s: float, log: Any) -> str:
    """Read the child's stdout until a line starting with ``tag``; return that line."""
    async with asyncio.timeout(within_s):
        while True:
            raw = await stream.readline()
            if not raw:
                raise RuntimeError(f"bridge process ended before {tag.strip()}")
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith(tag):
                return line
            log(f"  bridge: {line}")


async def run(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="telemed-bench-bridge-"))
    hub_db, outbox_db = folder / "hub.db", folder / "bridge" / "outbox.db"
    outbox_db.parent.mkdir()
    report: dict[str, Any] = {"folder": str(folder)}
    hub: Hub | None = None
    child: asyncio.subprocess.Process | None = None
    try:
        log("migrating and seeding the hub database (one patient, one bridge) …")
        token = await seed(f"sqlite:///{hub_db}")
        hub = await Hub.start(
            f"sqlite:///{hub_db}",
        )
        log(f"hub {hub.url} (pid {hub.proc.pid}); starting the bridge process …")
        cfg = {
            "ws_url": hub.ws_url,
            "token": token,
            "outbox": str(outbox_db),
            "max_outbox": args.max_outbox,
            "devices": args.devices,
            "seconds": args.seconds,
            "rate_hz": args.rate_hz,
            "batch": args.batch,
            "seed": args.seed,
            "tracemalloc": args.tracemalloc,
            "drain_timeout": args.drain_timeout,
            "link_delay": args.link_delay,
        }
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            "--child",
            json.dumps(cfg),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=str(REPO),
            limit=2**26,
        )
        assert child.stdout is not None and child.stdin is not None
        await _expect(child.stdout, "BRIDGE_READY", 90, log)
        report["busy_before_pct"] = await _busy_pct(1.0)
        report["load_before"] = _loadavg()
        hub_cpu0, ticks0, hub_rss0 = hub.cpu_s(), _machine_ticks(), hub.rss_kib()
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        log(
            f"bridge pid {child.pid} connected; machine {report['busy_before_pct']:.0f}% busy "
            f"before the run; streaming for {args.seconds:g} s …"
        )
        await _expect(child.stdout, "BRIDGE_STREAMING", 30, log)
        await _expect(child.stdout, "BRIDGE_STREAM_END", args.seconds + 60, log)
        log("devices stopped; draining the outbox …")
        line = await _expect(child.stdout, RESULT_TAG, args.drain_timeout + 60, log)
        hub_cpu1, ticks1 = hub.cpu_s(), _machine_ticks()
        report["hub_rss_kib"] = (hub_rss0, hub.rss_kib())
        report["bridge"] = json.loads(line[len(RESULT_TAG) :])
        await child.wait()
        report["child_exit"] = child.returncode
        if hub_cpu0 is not None and hub_cpu1 is not None:
            report["hub_cpu_s"] = hub_cpu1 - hub_cpu0
        if ticks0 and ticks1 and ticks1[1] > ticks0[1]:
            report["machine_busy_pct"] = 100 * (ticks1[0] - ticks0[0]) / (ticks1[1] - ticks0[1])
            report["machine_busy_s"] = (ticks1[0] - ticks0[0]) / os.sysconf("SC_CLK_TCK")
        report["load_after"] = _loadavg()
    except BaseException as exc:
        report["failure"] = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, Exception):
            raise
    finally:
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()
        if hub is not None:
            await hub.stop()
            report["hub_tracebacks"] = hub.tracebacks
            report["hub_errors"] = hub.errors.most_common(3)
            if report.get("failure"):
                log("last lines of the hub's output:")
                for x in list(hub.lines)[-30:]:
                    log("    " + x)
        if "bridge" in report:
            with contextlib.suppress(Exception):
                report["verify"] = verify(hub_db, outbox_db)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return report


# --------------------------------------------------------------------------- report


def _ms(x: float | None) -> str:
    if x is None or math.isnan(x):
        return "n/a"
    return f"{x * 1000:,.1f} ms" if x < 10 else f"{x:,.2f} s"


def _mib(kib: float | None) -> str:
    return f"{kib / 1024:,.1f} MiB" if kib is not None else "?"


def _rate(n: float, seconds: float | None) -> str:
    return f"{n / seconds:,.0f} /s" if seconds else "n/a"


def _lat(h: dict[str, float]) -> str:
    return " / ".join(_ms(h[k]) for k in ("p50", "p95", "p99", "max"))


def _slope_mib_per_min(samples: list[list[float]], t_from: float, t_to: float) -> float | None:
    """Least-squares RSS slope over samples in [t_from, t_to]."""
    pts = [(s[0], s[5] / 1024) for s in samples if t_from <= s[0] <= t_to]
    if len(pts) < 4 or t_to - t_from < 10:
        return None  # too short to tell a leak from warm-up
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return 60 * sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else None


def _drain_rate(samples: list[list[float]], batch: int) -> str:
    """Acked items/s over sample intervals that began and ended with >= a full batch pending:
    the uplink was never short of work there, so this is its capacity (devices still running
    in those intervals share the loop and the CPU with it)."""
    acked, seconds = 0.0, 0.0
    for a, b in zip(samples, samples[1:], strict=False):
        if a[4] >= batch and b[4] >= batch and b[0] > a[0]:
            acked += b[3] - a[3]
            seconds += b[0] - a[0]
    if seconds < 0.5:
        return "n/a (the outbox never held a full batch for long: the uplink kept up)"
    return f"{acked / seconds:,.0f} items/s over {seconds:.1f} s"


def _drain_text(b: dict[str, Any], drain_s: float | None, timeout_s: float) -> str:
    if not b["drained"]:
        return f"NOT drained within {timeout_s:g} s ({b['depth_final']:,} items left)"
    if not b["depth_at_stream_end"] or drain_s is None:
        return "nothing was left to send"
    left = b["depth_at_stream_end"]
    rate = f" ({left / drain_s:,.0f} items/s, uplink alone)" if drain_s > 0.5 else ""
    return f"{left:,} items left, drained in {max(0.0, drain_s):.2f} s{rate}"


def _cpu_per(cpu_s: float, notifications: int, items: int, paced: bool) -> str:
    if not notifications or not items or cpu_s <= 0:
        return "n/a"
    text = f"{1e6 * cpu_s / notifications:,.0f} µs / {1e6 * cpu_s / items:,.0f} µs"
    if paced:
        return text + " (paced: includes the idle loop, heartbeats and tiny batches)"
    return text + f" (ceiling on one free core: ~{items / cpu_s:,.0f} items/s, if no I/O waits)"


def result_rows(rep: dict[str, Any], args: argparse.Namespace) -> list[tuple[str, str]]:
    b = rep["bridge"]
    t_first = b["t_first_note"] or 0.0
    stream_s = b["t_stream_end"] - t_first
    ack_s = (b["t_last_ack"] - t_first) if b["t_last_ack"] is not None else None
    drain_s = (b["t_last_ack"] - b["t_stream_end"]) if b["t_last_ack"] is not None else None
    samples = b["samples"]
    depth_max = max((s[4] for s in samples), default=0)
    depth_at = next((s[0] for s in samples if s[4] == depth_max), 0.0)
    rss_max = max((s[5] for s in samples), default=0)
    half = b["t_stream_end"] / 2
    slope = _slope_mib_per_min(samples, half, b["t_stream_end"])
    n_ecg = sum(v for k, v in b["notifications"].items() if k.startswith("ecg"))
    up = b["uplink"]
    cpu = b["cpu_s"]
    span = b["t_drained"]
    hub_cpu = rep.get("hub_cpu_s")
    busy_s = rep.get("machine_busy_s")
    others = None
    if busy_s is not None and hub_cpu is not None:
        others = max(0.0, busy_s - hub_cpu - cpu)
    files = b["outbox_files"]
    in_loop = b["s_payload"] + b["s_pending"] + b["s_delete"]
    rows = [
        ("notifications (devices)", f"{b['notifications_total']:,} ({n_ecg:,} ECG frames)"),
        ("items into the outbox", f"{b['stored_items']:,} ({b['stored_readings']:,} readings + {b['stored_chunks']:,} ECG chunks of 73 samples)"),
        ("quarantined notifications", f"{b['quarantined']:,}"),
        ("streaming window (first notification → devices stop)", f"{stream_s:.2f} s"),
        ("notifications/s accepted (pipeline.on_payload)", _rate(b["notifications_total"], stream_s)),
        ("items/s into the outbox (readings /s)", f"{_rate(b['stored_items'], stream_s)} ({_rate(b['stored_readings'], stream_s)})"),
        ("items/s acked while streaming", _rate(b["acked_at_stream_end"], stream_s)),
        ("items acked by the hub", f"{b['acked_items']:,} (uplink: sent {up['sent']:,}, acked {up['acked']:,}, hub duplicates {up['duplicates']:,}, reconnects {up['reconnects']})"),
        ("items/s acked: first notification → last ack", f"{_rate(b['acked_items'], ack_s)} over {ack_s:.2f} s" if ack_s else "n/a"),
        ("drain after devices stopped", _drain_text(b, drain_s, args.drain_timeout)),
        ("latency notification → hub ack p50/p95/p99/max", f"{_lat(b['lat_total'])} (mean {_ms(b['lat_total']['mean'])})"),
        ("  notification → committed in outbox", f"{_lat(b['lat_store'])} (mean {_ms(b['lat_store']['mean'])})"),
        ("  notification → picked into a batch", _lat(b["lat_wait"])),
        ("  batch picked → ack (per batch)", _lat(b["batch_rtt"])),
        ("    picked → on the websocket (JSON, deflate)", _lat(b["batch_prep"])),
        ("    on the websocket → ack (hub, network, loop)", _lat(b["batch_wire"])),
        ("uplink busy (a batch being built or in flight)", f"{b['uplink_busy_s']:.1f} s of {span - (b['link_started'] or 0):.1f} s online ({100 * b['uplink_busy_s'] / max(1e-9, span - (b['link_started'] or 0)):.0f}%)"),
        ("uplink drain rate while the outbox held a full batch", _drain_rate(samples, args.batch)),
        ("batches", f"{b['batches']:,}, mean {b['batch_mean']:,.0f} items, {b['batch_full']:,} full ({args.batch})"),
        ("outbox depth max", f"{depth_max:,} items at t={depth_at:.1f} s (sampled every 0.25 s)"),
        ("outbox files at end (db / wal / shm)", f"{files.get('db', 0) / 2**20:,.1f} / {files.get('-wal', 0) / 2**20:,.1f} / {files.get('-shm', 0) / 2**20:,.1f} MiB"),
        ("bridge RSS: connected / end of streaming / drained", f"{_mib(b['rss_setup_kib'])} / {_mib(b['rss_stream_end_kib'])} / {_mib(b['rss_drained_kib'])}"),
        ("bridge RSS growth over the run (max sampled)", f"{(b['rss_drained_kib'] - b['rss_setup_kib']) / 1024:+,.1f} MiB (max {_mib(rss_max)})"),
        ("bridge RSS slope, 2nd half of streaming", f"{slope:+.2f} MiB/min" if slope is not None else "n/a (needs >= 20 s of streaming)"),
        ("bridge peak RSS (VmHWM)", f"{_mib(b['hwm_kib'])} (ru_maxrss {_mib(b['ru_maxrss_kib'])}: Linux keeps the forking parent's pre-exec peak in it)"),
        ("  of which bench bookkeeping (max)", f"{b['track_bytes_max'] / 2**20:,.2f} MiB (24 B per unacked notification)"),
        ("bridge CPU (run + drain)", f"{cpu:.1f} s over {span:.1f} s ({100 * cpu / span:.0f}% of a core)" if span else "?"),
        ("  in on_payload / outbox.pending / outbox.delete", f"{b['s_payload']:.1f} / {b['s_pending']:.1f} / {b['s_delete']:.1f} s wall (rest: uplink JSON, websocket, loop: {max(0.0, span - in_loop):.1f} s wall)"),
        ("  CPU per notification / per item (whole bridge)", _cpu_per(cpu, b["notifications_total"], b["stored_items"], bool(args.rate_hz))),
        ("  per notification in on_payload (mean wall)", f"{1e6 * b['s_payload'] / b['notifications_total']:,.0f} µs" if b["notifications_total"] else "n/a"),
        ("  context switches voluntary / involuntary", f"{b['ctx_switches'][0]:,} / {b['ctx_switches'][1]:,} (whole process life; voluntary = blocking I/O such as fsync)"),
        ("hub CPU (same window)", f"{hub_cpu:.1f} s ({100 * hub_cpu / span:.0f}% of a core)" if hub_cpu is not None and span else "?"),
        ("hub RSS before / after", " / ".join(_mib(x) for x in rep.get("hub_rss_kib", (None, None)))),
        ("machine busy during run (before)", f"{rep.get('machine_busy_pct', float('nan')):.0f}% of all cores ({rep.get('busy_before_pct', float('nan')):.0f}% before)"),
        ("CPU of other processes (not bridge/hub)", (f"{others:.1f} s" + ("  (busy machine: figures are pessimistic)" if span and others > 0.2 * span else "")) if others is not None else "?"),
        ("load average before / after", f"{rep.get('load_before', '?')} / {rep.get('load_after', '?')}"),
    ]  # fmt: skip
    if args.rate_hz:
        rows.insert(5, ("notification lag behind schedule p50/p99/max", " / ".join(_ms(b["lags"][k]) for k in ("p50", "p99", "max"))))  # fmt: skip
    if b["mismatched_acks"] or b["seq_gaps"]:
        rows.append(("bookkeeping anomalies", f"{b['mismatched_acks']} acks not of the oldest items, {b['seq_gaps']} non-contiguous seq ranges"))  # fmt: skip
    if up["last_error"]:
        rows.append(("uplink last error", up["last_error"]))
    role = "hub tracebacks in its log (signal worker included)"
    if rep.get("hub_tracebacks"):
        errors = "; ".join(f"{n}x {e}" for e, n in rep.get("hub_errors", []))
        rows.append((role, f"{rep['hub_tracebacks']} ({errors})"))
    else:
        rows.append((role, "0"))
    return rows


def timeline_rows(b: dict[str, Any], seconds: float) -> list[str]:
    samples = b["samples"]
    if not samples:
        return []
    step = max(1.0, round(seconds / 12))
    out = [
        f"  {'t (s)':>7} {'notif/s':>9} {'into outbox/s':>14} {'acked/s':>9} {'depth':>9} "
        f"{'RSS MiB':>8} {'CPU %':>6}"
    ]
    prev = [0.0, 0, 0, 0, 0, 0, 0.0]
    next_t = step
    for s in samples:
        last = s is samples[-1]
        if s[0] < next_t and not last:
            continue
        dt = s[0] - prev[0]
        if dt <= 0:
            continue
        out.append(
            f"  {s[0]:7.1f} {(s[1] - prev[1]) / dt:9,.0f} {(s[2] - prev[2]) / dt:14,.0f} "
            f"{(s[3] - prev[3]) / dt:9,.0f} {s[4]:9,} {s[5] / 1024:8.1f} "
            f"{100 * (s[6] - prev[6]) / dt:6.0f}"
        )
        prev = s
        next_t = s[0] + step
    return out


def verify_rows(v: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str]]:
    r, c = v["readings"], v["sample_chunks"]
    return [
        ("outbox: highest seq assigned (sqlite_sequence)", f"{v['outbox_max_seq']:,}"),
        ("outbox: items / raw rows / quarantined left", f"{v['outbox_left']:,} / {v['raw_left']:,} / {v['quarantine']:,}"),
        ("hub readings: rows / distinct seq", f"{r['rows']:,} / {r['distinct']:,} (bridge counted {b['stored_readings']:,})"),
        ("hub sample_chunks: rows / distinct seq", f"{c['rows']:,} / {c['distinct']:,} (bridge counted {b['stored_chunks']:,})"),
        ("hub: distinct (bridge_id, seq), min..max", f"{v['distinct_seqs']:,}, {v['min_seq']}..{v['max_seq']}"),
        ("result", "OK: every item the outbox numbered is stored exactly once" if v["ok"] else "FAILED: the hub does not hold exactly seq 1..max once each"),
    ]  # fmt: skip


METHOD = """\
The bridge runs alone in one child process (its own event loop, as `telemed bridge run`):
devices are coroutines calling BridgePipeline.on_payload (raw row -> parse -> outbox: 2 SQLite
transactions, synchronous, like a BLE notification callback) and the stock Uplink drains the
outbox concurrently in the same loop (lock-step: one batch in flight, deleted on ack). Unpaced
(--rate-hz 0) every device fires once per event-loop turn (asyncio.sleep(0) in between), i.e.
as fast as the bridge accepts; paced, each device is due every 1/rate s and the due time is the
notification time (event-loop delay counts against the bridge). Payloads are pre-encoded
spec-exact bytes (ECG frames get a fresh strap timestamp each): encoding is not measured.
Times: the device stamps the notification before on_payload; an Outbox subclass notes each
commit's seq range (append), when the uplink picks a batch (pending) and when it deletes a
batch, which the Uplink does right after the hub's ack for it arrived: that instant is the ack
time of every seq in the batch; an Uplink subclass only notes when ws.send returned (its
_expect hook). Latency per item = ack - notification (log histogram, 2 % buckets). With
--link-delay the uplink starts late, so the outbox holds a backlog (as after an outage).
Memory: VmRSS sampled every 0.25 s and VmHWM of the bridge process (--tracemalloc: Python
allocations during streaming). CPU: os.times of the bridge process, /proc for the hub and the
machine. Items = scalar readings + ECG chunks, one outbox seq each. After the drain the hub's
SQLite is checked: rows and distinct (bridge_id, seq) of readings + sample_chunks equal the
outbox's sqlite_sequence, and cover seq 1..max."""


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n{title}")
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    sys.stdout.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=10, help="simulated devices (default 10)")
    p.add_argument("--seconds", type=float, default=None, help="streaming time (default 30)")
    p.add_argument(
        "--rate-hz",
        type=float,
        default=0.0,
        help="notifications/s per device; 0 = as fast as the bridge accepts (default)",
    )
    p.add_argument("--batch", type=int, default=500, help="uplink batch size (default 500)")
    p.add_argument("--quick", action="store_true", help="a ~10 s run (5 s of streaming)")
    p.add_argument("--tracemalloc", action="store_true", help="trace allocations (slows it)")
    p.add_argument("--drain-timeout", type=float, default=None, help="max seconds to drain")
    p.add_argument("--max-outbox", type=int, default=5_000_000, help="outbox bound (items)")
    p.add_argument(
        "--link-delay",
        type=float,
        default=0.0,
        help="start the uplink this many seconds after the devices (a backlog to drain)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the temp folder (hub.db, outbox)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.seconds is None:
        args.seconds = 5.0 if args.quick else 30.0
    if args.drain_timeout is None:
        args.drain_timeout = max(60.0, 4 * args.seconds)
    if args.devices < 1 or args.seconds <= 0 or args.rate_hz < 0 or not 1 <= args.batch <= 5000:
        p.error("--devices >= 1, --seconds > 0, --rate-hz >= 0, --batch within 1..5000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child)
    print_table("Machine", machine_info())
    kinds = ["ECG (Polar H10 PMD, 73 samples/frame)"]
    n_hr = sum(1 for i in range(1, args.devices) if i % 2)
    n_ox = args.devices - 1 - n_hr
    if n_hr:
        kinds.append(f"{n_hr} heart-rate strap(s) 0x2A37 (HR + 1-2 RR)")
    if n_ox:
        kinds.append(f"{n_ox} pulse oximeter(s) 0x2A5F (SpO2 + pulse)")
    rate = f"{args.rate_hz:g} notifications/s each" if args.rate_hz else "as fast as accepted"
    print_table(
        "Parameters",
        [
            ("command", " ".join([Path(sys.executable).name, *sys.argv])),
            ("devices", f"{args.devices}: " + ", ".join(kinds)),
            ("rate", rate),
            (
                "streaming time",
                f"{args.seconds:g} s, then drain (timeout {args.drain_timeout:g} s)",
            ),
            ("uplink", f"device_bridge.uplink.Uplink, batch {args.batch}, lock-step"),
            ("outbox", f"device_bridge.outbox.Outbox (SQLite WAL, max {args.max_outbox:,})"),
            ("hub", "subprocess: telemed serve --port 0, SQLite temp file, in-process bus"),
        ],
    )
    print("\nMethod")
    print("\n".join("  " + line for line in METHOD.splitlines()), flush=True)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    rep = asyncio.run(run(args, log))
    if "bridge" not in rep:
        print(f"\nFAILED: {rep.get('failure', 'no result from the bridge process')}")
        return 1
    b = rep["bridge"]
    print_table("Results (bridge process)", result_rows(rep, args))
    print("\nTimeline (bridge process, per interval)")
    print("\n".join(timeline_rows(b, b["t_drained"])))
    if b["top_allocs"]:
        cur, peak = b["traced"]
        print(f"\ntracemalloc at the end of streaming: {cur / 2**20:.1f} MiB traced, peak "
              f"{peak / 2**20:.1f} MiB; top allocation sites:")  # fmt: skip
        print("\n".join("  " + a for a in b["top_allocs"]))
    v = rep.get("verify")
    ok = bool(v and v["ok"]) and b["drained"] and not rep.get("failure")
    if v:
        print_table("Verification (hub SQLite vs bridge outbox)", verify_rows(v, b))
    else:
        print("\nVerification: could not read the databases")
    if rep.get("failure"):
        print(f"\nFAILED: {rep['failure']}")
    if args.keep:
        print(f"\nkept: {rep['folder']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
