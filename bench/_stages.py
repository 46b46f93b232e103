"""CPU per reading per stage of the hub, from a py-spy sample of the running hub process.

``bench_ingest.py --profile`` starts ``py-spy record --format raw`` on the hub for the measured
window, then sorts every sampled stack into one stage by the frames it holds (the first rule
that matches, in the order of ``STAGES``). py-spy leaves idle threads out, so a stage's share of
the samples is its share of the hub's CPU; multiplied by the hub's measured CPU seconds and
divided by the readings, it is CPU microseconds per reading for that stage.

Approximate: py-spy counts a thread waiting for the GIL as running, so a stage that hands the
GIL to another thread (the SQLite threads) looks dearer than its CPU; the hub total is the
process's measured CPU time.

py-spy is a bench dependency (``pip install -e '.[bench]'``); without it ``--profile`` says so
and the bench runs without the split.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

#: (stage, markers): a stack belongs to the first stage one of whose markers is in it.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("signal worker (analysis, findings)", ("SignalWorker.", "(worker.py")),
    ("alert engine (group alerts)", ("AlertWorker.", "(consumer.py")),
    ("monitor fan-out (/ws/monitor)", ("MonitorFanout", "(fanout.py", "monitor/endpoints.py")),
    ("FHIR subscriptions", ("SubscriptionHub", "subscriptions.py")),
    ("ingest: parse + validate frame", ("parse_bridge_frame", "decode_readings_batch")),
    ("ingest: publish on the bus", ("publish_for_analysis", "dump_python")),
    ("ingest: store + commit (SQLite ingest thread)", ("SqliteIngestStore", "sqlite_store.py")),
    ("ingest: store + commit (event loop)", ("store_batch", "unit_of_work", "AsyncSession")),
    ("SQLite driver thread", ("_connection_worker_thread",)),
    # SQLAlchemy's async layer runs statements in a greenlet whose stack does not show its
    # caller: ingest's insert and commit, mostly, but also the workers' findings and alerts.
    ("SQLAlchemy in a greenlet (mostly ingest)", ("greenlet_spawn", "sqlalchemy")),
    ("ingest: websocket receive, ack", ("bridge_socket", "Limits._bridge_socket")),
    ("websocket protocol (frames, deflate)", ("websockets", "permessage_deflate")),
    ("event loop: select, scheduling", ("run_forever",)),
    ("other", ("",)),
)


def stage_of(stack: str) -> str:
    for stage, markers in STAGES:
        if any(m in stack for m in markers):
            return stage
    return STAGES[-1][0]


def split(raw: str) -> Counter[str]:
    """Samples per stage of py-spy's raw (collapsed) output: ``frame;frame;... count``."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, n = line.rstrip().rpartition(" ")
        if stack and n.isdigit():
            counts[stage_of(stack)] += int(n)
    return counts


@dataclass
class Profile:
    """A py-spy recording of one process, stopped by ``stop()``."""

    proc: asyncio.subprocess.Process | None
    out: Path
    note: str = ""

    @classmethod
    async def start(cls, pid: int, out: Path, rate_hz: int = 250) -> Profile:
        exe = shutil.which("py-spy") or shutil.which(
            "py-spy", path=str(Path(sys.executable).parent)
        )
        if exe is None:
            return cls(None, out, "py-spy not installed (pip install -e '.[bench]')")
        proc = await asyncio.create_subprocess_exec(
            exe, "record", "--pid", str(pid), "--rate", str(rate_hz), "--nonblocking",
            "--format", "raw", "--output", str(out), "--duration", "3600",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc, out)

    async def stop(self) -> Counter[str]:
        if self.proc is None:
            return Counter()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            _, err = await asyncio.wait_for(self.proc.communicate(), 30)
        except TimeoutError:
            self.proc.kill()
            self.note = "py-spy did not stop"
            return Counter()
        try:
            return split(await asyncio.to_thread(self.out.read_text))
        except OSError:
            self.note = f"py-spy wrote nothing: {err.decode(errors='replace')[-300:]}"
            return Counter()


def rows(counts: Counter[str], hub_cpu_s: float, readings: int) -> list[tuple[str, str]]:
    """(stage, 'x.x us per reading (y %)') for every stage, in the order of STAGES."""
    total = sum(counts.values())
    if not total or not readings:
        return []
    out = []
    for stage, _ in STAGES:
        share = counts.get(stage, 0) / total
        out.append(
            (stage, f"{1e6 * hub_cpu_s * share / readings:6.1f} us/reading ({100 * share:4.1f} %)")
        )
    out.append(("hub total", f"{1e6 * hub_cpu_s / readings:6.1f} us/reading ({total:,} samples)"))
    return out
