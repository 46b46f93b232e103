"""What the fault tests share: private Redis and PostgreSQL servers on loopback ports of their
own, a TCP proxy that cuts connections, a probe that counts alerts and escalations across a
fault, the stored-once check, and the fault report.

How long the fault runs are: ``TELEMED_FAULT_ROUNDS`` (default 1, what CI runs; the documented
long run sets more). Every fault test records one line of the fault report (``record``): the
faults injected by kind, items sent / stored / duplicated / lost, alerts expected / raised /
doubled, escalations expected / fired / doubled. ``tests/conftest.py`` prints the report at the
end of the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from alerts.engine.conditions import Trigger
from alerts.episodes import service as episodes
from alerts.episodes.models import AlertEpisode, AlertEvent
from alerts.policy.rules import Category, Priority
from device_bridge.outbox import Outbox
from device_bridge.uplink import Uplink
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from patient_hub.ingest.models import ReadingRow, SampleChunkRow
from telemed_core.values import utc_now

PG_BIN = Path("/usr/lib/postgresql/15/bin")
REPORT_ENV = "TELEMED_FAULT_REPORT"


def rounds() -> int:
    """How many times each fault test injects its fault (CI: 1)."""
    return max(1, int(os.environ.get("TELEMED_FAULT_ROUNDS", "1")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def two_free_ports() -> int:
    """A port p with p and p + 1 free (nodes that keep their ports on restart)."""
    for _ in range(50):
        port = random.randint(20_000, 60_000)
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


# --- private servers ---------------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a loopback port of its own, data (AOF) in a temp folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.folder), "--appendonly", "yes", "--save", "",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with asyncio.timeout(10):
            while True:
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    return
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()  # SIGTERM: Redis writes its AOF and exits
            await asyncio.wait_for(self.proc.wait(), 10)


def as_postgres(*args: str) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the ``postgres`` account then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


def postgres_binaries() -> bool:
    return (PG_BIN / "initdb").exists() and (os.geteuid() != 0 or bool(shutil.which("runuser")))


class PrivatePostgres:
    """A PostgreSQL 15 server of its own (initdb in a temp folder, its own port, no fsync)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="telemed-pg-"))
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        subprocess.run(
            as_postgres(str(PG_BIN / "initdb"), "-D", str(self.folder / "data"), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8"),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *as_postgres(str(PG_BIN / "postgres"), "-D", str(self.folder / "data"),
                         "-p", str(self.port), "-k", str(self.folder),
                         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        import asyncpg

        async with asyncio.timeout(30):
            while True:
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    conn = await asyncpg.connect(self.url)
                    await conn.close()
                    return
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            # A fast shutdown: open sessions (the hub's pool) are cut, as in a real restart.
            stop = as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "stop",
                               "-m", "fast", "-w")  # fmt: skip
            await asyncio.to_thread(subprocess.run, stop, capture_output=True, timeout=60)
            await asyncio.wait_for(self.proc.wait(), 30)


# --- a telemed cluster ------------------------------------------------------------------------

TELEMED = [sys.executable, "-m", "telemed_cli.main"]


@dataclass
class ClusterRun:
    """A running ``telemed cluster``: its environment, nodes (name → URL) and console output."""

    env: dict[str, str]
    nodes: dict[str, str]
    output: list[str]

    def said(self) -> str:
        return " ".join("".join(self.output).split())  # the console wraps long lines

    def url_of(self, name: str) -> str:
        """Where a node listens now: a restarted worker (any free port) moves."""
        found = re.findall(rf"\[{re.escape(name)}\] telemed hub listening on (\S+)", self.said())
        return str(found[-1]) if found else self.nodes[name]


@contextlib.asynccontextmanager
async def running_cluster(
    database_url: str, redis_url: str, password: str, *, workers: int = 2, port: int = 0
) -> AsyncIterator[ClusterRun]:
    """``telemed cluster --ingest 1 --workers W --api 1`` on ``database_url`` (an admin
    account with ``password``), a bus prefix of its own, 2 s worker leases; stopped after."""
    env = {
        **os.environ,
        "TELEMED_DATABASE_URL": database_url,
        "TELEMED_REDIS_URL": redis_url,
        "TELEMED_BUS_PREFIX": f"cluster:{uuid.uuid4().hex}:",
        "TELEMED_ADMIN_PASSWORD": password,
        "TELEMED_WORKER_LEASE_S": "2",
    }
    add = await asyncio.to_thread(
        subprocess.run, [*TELEMED, "user", "add", "admin", "--role", "admin"],
        input=f"{password}\n", env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert add.returncode == 0, add.stdout + add.stderr
    proc = await asyncio.create_subprocess_exec(
        *TELEMED, "cluster", "--ingest", "1", "--workers", str(workers), "--api", "1",
        "--port", str(port), env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    run = ClusterRun(env, {}, [])
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
        assert line, "telemed cluster exited before it was ready"
        if match := re.search(r"TELEMED_NODE (\S+) \S+ (\S+)", line):
            run.nodes[match.group(1)] = match.group(2)
        if "TELEMED_CLUSTER_READY" in line:
            break

    async def keep() -> None:
        assert proc.stdout is not None
        while raw := await proc.stdout.readline():
            run.output.append(raw.decode(errors="replace"))

    drain = asyncio.create_task(keep())
    try:
        yield run
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 60)
        await drain


async def count_items(database_url: str, bridge_prefix: str = "") -> tuple[int, int]:
    """(items stored, distinct (bridge, seq) keys) over readings and sample chunks of the
    bridges whose id starts with ``bridge_prefix``."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            total = keys = 0
            for table in (ReadingRow, SampleChunkRow):
                mine = table.bridge_id.like(f"{bridge_prefix}%")
                total += int(await s.scalar(select(func.count(table.id)).where(mine)) or 0)
                distinct = select(table.bridge_id, table.seq).where(mine).distinct().subquery()
                keys += int(await s.scalar(select(func.count()).select_from(distinct)) or 0)
            return total, keys
    finally:
        await engine.dispose()


# --- the cutting proxy -------------------------------------------------------------------------


class CuttingProxy:
    """A loopback TCP proxy to ``127.0.0.1:target_port`` that can cut every connection through
    it at once, mid-frame (both sides aborted: the bridge and the hub see a reset)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cuts = 0  # connections cut
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> int:
        """Abort every open connection; returns how many."""
        pairs, self._pairs = self._pairs, set()
        for a, b in pairs:
            a.transport.abort()
            b.transport.abort()
        self.cuts += len(pairs)
        return len(pairs)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._pairs.discard(pair)
        for w in pair:
            w.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


async def cut_during(
    proxy: CuttingProxy, uplinks: list[Uplink], total: int, times: int, rng: random.Random
) -> list[int]:
    """Cut the proxy's connections ``times`` times at random points of the stream (when the
    uplinks together have had a random 10-90 % of ``total`` items acked), so that every cut
    falls mid-stream however fast the machine; returns how many connections each cut found."""
    found = []
    for fraction in sorted(rng.uniform(0.1, 0.9) for _ in range(times)):
        async with asyncio.timeout(120):
            while sum(u.status.acked_items for u in uplinks) < fraction * total:
                await asyncio.sleep(0.002)
        found.append(proxy.cut())
    return found


# --- probes: readings stored once, alerts and escalations counted ------------------------------


async def seqs_of(database_url: str, bridge_id: str) -> list[int]:
    """The stored readings' seqs of one bridge, in order (a double shows twice)."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            rows = await s.scalars(
                select(ReadingRow.seq)
                .where(ReadingRow.bridge_id == bridge_id)
                .order_by(ReadingRow.seq)
            )
            return list(rows)
    finally:
        await engine.dispose()


def tally(sent: int, seqs: list[int]) -> dict[str, int]:
    """sent / stored / duplicated / lost, from how many items a bridge sent and the seqs
    stored for it (its seqs start where the hub reserved them: 1, or further on when the first
    handshake's reply was cut and a new outbox asked again)."""
    counts = Counter(seqs)
    return {
        "sent": sent,
        "stored": len(counts),
        "duplicated": sum(n - 1 for n in counts.values()),
        "lost": sent - len(counts),
    }


PROBE_PHASES = ("before", "during", "after")


async def enrol_probes(database_url: str, prefix: str = "probe") -> dict[str, str]:
    """A probe patient with a home bridge per phase (``probe-before`` ...); returns bridge
    tokens by patient id."""
    from patient_hub.patients import service as patients

    engine = make_engine(database_url)
    tokens = {}
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            for phase in PROBE_PHASES:
                pid = f"{prefix}-{phase}"
                await patients.upsert_patient(s, pid, f"Probe {phase}", utc_now())
                tokens[pid] = await patients.enrol_bridge(s, f"bridge-{pid}", patient_id=pid)
    finally:
        await engine.dispose()
    return tokens


def a_desaturation(box: Outbox, patient_id: str) -> int:
    """Four minutes of 1 Hz SpO2 ending now: one minute at 97 %, two at 86 % (limit 90 %,
    60 s persistence), one at 97 %: one desaturation. Returns the readings appended."""
    t0 = utc_now() - timedelta(seconds=240)
    box.append(
        (
            "reading",
            {
                "patient_id": patient_id,
                "device_id": f"ox-{patient_id}",
                "kind": "spo2",
                "value": 86.0 if 60 <= s < 180 else 97.0,
                "unit": "%",
                "measured_at": (t0 + timedelta(seconds=s)).isoformat(),
                "received_at": (t0 + timedelta(seconds=s)).isoformat(),
            },
        )  # fmt: skip
        for s in range(240)
    )
    return 240


@dataclass
class Probe:
    """A probe patient driven into a desaturation before, during and after a fault (each phase
    its own patient and bridge, sending through ``bridge_url``), and high alerts whose first
    escalation falls due before, during and after it."""

    database_url: str
    bridge_url: str  # ws://host:port/ws/bridge
    folder: Path
    tokens: dict[str, str] = field(default_factory=dict)
    senders: list[tuple[Uplink, asyncio.Task[None]]] = field(default_factory=list)
    escalating: dict[int, str] = field(default_factory=dict)  # alert id → phase
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def enrol(self) -> None:
        self.tokens = await enrol_probes(self.database_url)

    async def drive(self, phase: str) -> Uplink:
        """The phase's desaturation, sent by its own bridge until its outbox is empty."""
        pid = f"probe-{phase}"
        box = Outbox(self.folder / f"probe-{phase}.db")
        a_desaturation(box, pid)
        uplink = Uplink(self.bridge_url, f"bridge-{pid}", self.tokens[pid], box, batch_size=40)
        self.senders.append((uplink, asyncio.create_task(uplink.run(self.stop))))
        return uplink

    async def before(self, timeout_s: float = 60) -> None:
        """The "before" phase, done: its alert raised and its escalation fired."""
        await self.drive("before")
        await self.escalate_in("before", 0.5)
        async with asyncio.timeout(timeout_s):
            while (got := await self.counts())["alerts_raised"] < 1 or got["escalations_fired"] < 1:
                await asyncio.sleep(0.2)

    async def escalate_in(self, phase: str, due_in_s: float) -> None:
        """A high alert of the phase's probe patient whose first escalation is due in
        ``due_in_s`` (opened 120 s − that ago; the nurse's timeout is 120 s)."""
        engine = make_engine(self.database_url)
        try:
            async with unit_of_work(make_sessionmaker(engine)) as session:
                t = Trigger(
                    patient_id=f"probe-{phase}", rule="fault_probe", title="fault probe",
                    action="raise", at=utc_now(), priority=Priority.HIGH,
                    category=Category.CLINICAL, evidence_key=f"probe-{phase}", source_kind="test",
                )  # fmt: skip
                opened = utc_now() - timedelta(seconds=120 - due_in_s)
                [ep] = await episodes.apply(session, t, opened)
                self.escalating[ep.id] = phase
        finally:
            await engine.dispose()

    async def drained(self, timeout_s: float = 90) -> None:
        async with asyncio.timeout(timeout_s):
            while any(u.outbox.depth() for u, _ in self.senders):
                await asyncio.sleep(0.1)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*(t for _, t in self.senders), return_exceptions=True)
        for uplink, _ in self.senders:
            uplink.outbox.close()

    async def counts(self) -> dict[str, Any]:
        """Alerts expected / raised / doubled (per probe patient and rule) and escalations
        expected / fired / doubled, as the database has them now."""
        engine = make_engine(self.database_url)
        try:
            async with make_sessionmaker(engine)() as s:
                rows = (
                    await s.execute(
                        select(AlertEpisode.patient_id, AlertEpisode.rule, func.count())
                        .where(AlertEpisode.patient_id.like("probe-%"))
                        .where(AlertEpisode.rule != "fault_probe")
                        .group_by(AlertEpisode.patient_id, AlertEpisode.rule)
                    )
                ).all()
                fired = Counter(
                    await s.scalars(
                        select(AlertEvent.alert_id).where(
                            AlertEvent.action == "escalated",
                            AlertEvent.alert_id.in_(list(self.escalating)),
                        )
                    )
                )
        finally:
            await engine.dispose()
        driven = {u.bridge_id.removeprefix("bridge-") for u, _ in self.senders}
        raised = {pid for pid, rule, _ in rows if "desaturation" in rule and pid in driven}
        return {
            "alerts_expected": len(driven),
            "alerts_raised": len(raised),
            "alerts_doubled": sum(n - 1 for _, _, n in rows),
            "alert_rules": sorted({rule for _, rule, _ in rows}),
            "escalations_expected": len(self.escalating),
            "escalations_fired": len(fired),
            "escalations_doubled": sum(n - 1 for n in fired.values()),
        }

    async def settled(self, timeout_s: float = 60) -> dict[str, Any]:
        """The counts once every driven alert was raised and every escalation fired (or the
        timeout passed), and two more seconds in which nothing may be added."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while True:
                    got = await self.counts()
                    if (got["alerts_raised"] == got["alerts_expected"]
                            and got["escalations_fired"] == got["escalations_expected"]):  # fmt: skip
                        break
                    await asyncio.sleep(0.3)
        await asyncio.sleep(2.0)
        return await self.counts()


# --- the fault report --------------------------------------------------------------------------


def record(test: str, faults: dict[str, int], **figures: Any) -> None:
    """One line of the fault report (JSON lines in ``$TELEMED_FAULT_REPORT``)."""
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    line = {"test": test, "faults": faults, **figures}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def summary(path: str) -> list[str]:
    """The report's lines, one per test, and a total per fault kind."""
    with contextlib.suppress(OSError):
        lines = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
        if not lines:
            return []
        out = []
        total: Counter[str] = Counter()
        for x in lines:
            total.update(x["faults"])
            figures = ", ".join(f"{k} {v}" for k, v in x.items() if k not in ("test", "faults"))
            kinds = ", ".join(f"{k} x{n}" for k, n in x["faults"].items())
            out.append(f"{x['test']}: faults {kinds}; {figures}")
        out.append("faults injected: " + ", ".join(f"{k} x{n}" for k, n in sorted(total.items())))
        return out
    return []
