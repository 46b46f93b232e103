"""``telemed cluster``: a local scale-out cluster of ``telemed serve`` processes by role.

Every node is its own process sharing one PostgreSQL database and one Redis: ``--ingest`` nodes
take bridges (``/ws/bridge``), ``--api`` nodes serve the REST API, FHIR and the screens (live
pushes reach them through Redis), ``--workers`` run the signal worker on their patient
partitions. The launcher migrates the database once, starts the nodes, prints where each
listens, restarts a node that dies (as a process supervisor would) and stops them all on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from dataclasses import dataclass, field

READY = re.compile(r"TELEMED_READY (\S+)")
RESTART_DELAY_S = 1.0


@dataclass
class Node:
    role: str
    name: str
    port: int
    url: str = ""
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)


def plan(ingest: int, workers: int, api: int, port: int) -> list[Node]:
    """The nodes to start: ingest and API nodes on consecutive ports from ``port`` (0: any
    free port), workers on any free port (they answer only /healthz and /readyz)."""
    nodes = [Node("ingest", f"ingest-{i + 1}", 0) for i in range(ingest)]
    nodes += [Node("api", f"api-{i + 1}", 0) for i in range(api)]
    for i, node in enumerate(nodes):
        node.port = port + i if port else 0
    nodes += [Node("worker", f"worker-{i + 1}", 0) for i in range(workers)]
    return nodes


async def _start(node: Node, env: dict[str, str], host: str) -> None:
    node.proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telemed_cli.main", "serve", "--role", node.role,
        "--host", host, "--port", str(node.port),
        env={**env, "TELEMED_WORKER_NAME": node.name},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def _watch(node: Node, say: object) -> None:
    """Relay a node's output, prefixed by its name; note its URL when it is ready."""
    assert node.proc is not None and node.proc.stdout is not None
    async for raw in node.proc.stdout:
        line = raw.decode(errors="replace").rstrip()
        if match := READY.search(line):
            node.url = match.group(1)
            node.ready.set()
        elif line:
            say(f"[{node.name}] {line}")  # type: ignore[operator]


async def supervise(
    node: Node, env: dict[str, str], host: str, stop: asyncio.Event, say: object
) -> None:
    """Run a node until ``stop``; start it again when it dies."""
    while not stop.is_set():
        await _start(node, env, host)
        assert node.proc is not None
        watcher = asyncio.create_task(_watch(node, say))
        stopper = asyncio.create_task(stop.wait())
        exited = asyncio.create_task(node.proc.wait())
        await asyncio.wait({stopper, exited}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if stop.is_set():
            await _terminate(node.proc)
        await watcher
        if not stop.is_set():
            node.restarts += 1
            node.ready.clear()
            say(f"[{node.name}] exited with {node.proc.returncode}; restarting")  # type: ignore[operator]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RESTART_DELAY_S):
                    await stop.wait()


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        async with asyncio.timeout(15):
            await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def node_env(database_url: str, redis_url: str, bus_prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "TELEMED_DATABASE_URL": database_url,
        "TELEMED_REDIS_URL": redis_url,
        "TELEMED_BUS_PREFIX": bus_prefix,
    }
