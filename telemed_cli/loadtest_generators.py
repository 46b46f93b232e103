"""The bridges of a ``telemed loadtest``, split over worker processes (``--generators N``).

Each simulated bridge holds its outbox open (the SQLite file, its WAL and its shared-memory
index) and its websocket: four files. 10,000 bridges in one process passed the limit of 20,000
open files ("unable to open database file"), and one process's event loop had to run them all.
So the parent plans which bridge goes to which ingest node, plays which scenario and streams
which ECG (exactly as one process did), deals the bridges out to N generator processes
(``python -m telemed_cli.loadtest_generators``: a JSON plan on stdin, a JSON result on stdout),
and merges their results: counts are summed, and the ack latencies are returned as samples so
that the percentiles are taken over all of them, never averaged.

The monitor socket stays in the parent, which now does nothing else: its receipt times are no
longer delayed by the bridges' own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import resource
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from device_bridge.uplink import Uplink
from telemed_cli.loadtest_ecg import stream
from telemed_cli.simulate import SimBridge, run_bridges

#: What one patient in twenty plays (it was "hypertensive_crisis", which no simulated patient
#: knows: no crisis was ever played, and no run had an alert latency).
CRISIS = "hypertensive-crisis"
#: Bridges per generator process when ``--generators`` is not given: four open files each
#: keep a generator far below a limit of 20,000, and a few processes use both cores.
BRIDGES_PER_GENERATOR = 2_500
MAX_GENERATORS = 16
#: Uplink counters each generator sums over its bridges.
#: Bridges of one generator opening their connection at once (``Uplink.connect_slots``).
CONNECTING = 25
#: How long a generator's bridges may take to come online before they stream regardless.
ONLINE_WITHIN_S = 600.0
COUNTERS = ("sent_items", "acked_items", "duplicates", "reconnects", "slow_acks", "resent_batches")


def generator_count(bridges: int) -> int:
    """Processes for ``bridges`` simulated bridges when the operator did not say."""
    return max(1, min(MAX_GENERATORS, math.ceil(bridges / BRIDGES_PER_GENERATOR)))


def raise_open_file_limit() -> int:
    """Lift the soft limit of open files to the hard one (allowed without privileges)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def plan(
    ingest: list[str],
    bridges: list[SimBridge],
    ecg_streams: list[SimBridge],
    seconds: float,
    folder: Path,
    generators: int,
) -> list[dict[str, Any]]:
    """One JSON plan per generator. Bridges go to the ingest nodes in turn; one in ten streams
    ECG from a chest strap, one in twenty has a hypertensive crisis; the 250 Hz ECG streams
    are spread over the nodes likewise. Generator ``k`` gets every ``generators``-th of each."""
    drain_s = max(60.0, 4 * seconds)

    def one(b: SimBridge, i: int, **more: object) -> dict[str, Any]:
        return {"bridge_id": b.bridge_id, "patient_id": b.patient_id, "token": b.token,
                "url": ingest[i % len(ingest)], **more}  # fmt: skip

    planned = [
        one(b, i, ecg=i % 10 == 0, scenario=CRISIS if i % 20 == 1 else None)
        for i, b in enumerate(bridges)
    ]
    streams = [one(b, i) for i, b in enumerate(ecg_streams)]
    return [
        {
            "seconds": seconds,
            "drain_s": drain_s,
            "outbox_dir": str(folder / "outbox"),
            "bridges": planned[k::generators],
            "ecg_streams": streams[k::generators],
        }  # fmt: skip
        for k in range(generators)
    ]


async def generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one generator's bridges and ECG streams until drained; its counts and ack samples."""
    uplinks: list[Uplink] = []
    ack_ms: list[float] = []
    slots = asyncio.Semaphore(CONNECTING)

    def watch(uplink: Uplink) -> None:
        uplinks.append(uplink)
        uplink.connect_slots = slots
        uplink.on_ack = lambda items, seconds: ack_ms.append(round(1000 * seconds, 1))

    folder, seconds, drain_s = Path(spec["outbox_dir"]), spec["seconds"], spec["drain_s"]
    groups: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for b in spec["bridges"]:
        groups.setdefault((b["url"], b["ecg"]), []).append(b)
    runs: list[Awaitable[int | dict[str, int]]] = [
        run_bridges(
            url,
            [_sim(b) for b in group],
            seconds=seconds,
            outbox_dir=folder,
            ecg=ecg,
            scenarios={b["patient_id"]: b["scenario"] for b in group if b["scenario"]},
            drain_timeout_s=drain_s,
            on_uplink=watch,
            online_within_s=ONLINE_WITHIN_S,
        )
        for (url, ecg), group in groups.items()
    ]
    runs += [
        stream(s["url"], _sim(s), seconds, folder, drain_s, watch) for s in spec["ecg_streams"]
    ]
    set_up_at = time.time()
    online = asyncio.create_task(
        _all_online(uplinks, len(spec["bridges"]) + len(spec["ecg_streams"]))
    )
    produced = await asyncio.gather(*runs)
    online.cancel()
    started_at = online.result() if online.done() and not online.cancelled() else set_up_at
    return {
        "produced": sum(p if isinstance(p, int) else sum(p.values()) for p in produced),
        "set_up_at": set_up_at,
        "started_at": started_at,
        "finished_at": time.time(),
        "ack_ms": ack_ms,
        **{name: sum(getattr(u.status, name) for u in uplinks) for name in COUNTERS},
    }


async def _all_online(uplinks: list[Uplink], expected: int) -> float:
    """When each of the ``expected`` uplinks had been online: the streaming starts then (the
    bridges wait for it, ``ONLINE_WITHIN_S`` at most)."""
    seen: set[int] = set()
    while True:
        seen |= {id(u) for u in uplinks if u.status.state == "online"}
        if len(seen) >= expected:
            return time.time()
        await asyncio.sleep(0.2)


def _sim(b: dict[str, Any]) -> SimBridge:
    return SimBridge(b["bridge_id"], b["patient_id"], b["token"])


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result of several generators: counts summed, samples pooled; the streaming from
    the first generator's start to the last one's end, all bridges online at ``online_at``."""
    return {
        "produced": sum(r["produced"] for r in results),
        "set_up_at": min(r["set_up_at"] for r in results),
        "started_at": min(r["started_at"] for r in results),
        "online_at": max(r["started_at"] for r in results),
        "finished_at": max(r["finished_at"] for r in results),
        "ack_ms": [v for r in results for v in r["ack_ms"]],
        **{name: sum(r[name] for r in results) for name in COUNTERS},
    }


async def run_generators(specs: list[dict[str, Any]]) -> dict[str, Any]:
    """Run each plan in a process of its own, at once; their merged result. A generator that
    fails stops the run (the others are killed) with its exit status."""
    procs: list[asyncio.subprocess.Process] = []

    async def one(k: int, spec: dict[str, Any]) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "telemed_cli.loadtest_generators",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        procs.append(proc)
        out, _ = await proc.communicate(json.dumps(spec).encode())
        lines = out.decode().strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"load generator {k + 1} failed (exit status {proc.returncode})")
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    try:
        return merge(list(await asyncio.gather(*(one(k, s) for k, s in enumerate(specs)))))
    finally:
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()


def main() -> None:
    """A generator process: its plan from stdin, its result as one JSON line on stdout."""
    raise_open_file_limit()
    spec = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(generate(spec))), flush=True)


if __name__ == "__main__":
    main()
