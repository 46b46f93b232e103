"""``telemed cluster``: a local scale-out cluster (nodes: ``telemed_cli.cluster``)."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from rich.table import Table

from telemed_cli.commands.common import _cluster_engines, console


def cluster(
    ingest: Annotated[int, typer.Option(min=1, max=32, help="ingest nodes (bridges)")] = 1,
    workers: Annotated[int, typer.Option(min=1, max=32, help="signal workers")] = 2,
    api: Annotated[int, typer.Option(min=1, max=32, help="API/screen nodes")] = 2,
    host: Annotated[str, typer.Option(help="address the nodes listen on")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="first port of ingest then API nodes (0: any free ports)")
    ] = 8000,
    database_url: Annotated[str | None, typer.Option(help="postgresql://...")] = None,
    redis_url: Annotated[str | None, typer.Option(help="redis://...")] = None,
) -> None:
    """A local scale-out cluster: ingest, worker and API nodes sharing PostgreSQL and Redis."""
    from telemed_cli.cluster import node_env, plan, supervise

    settings, _, _ = _cluster_engines(database_url, redis_url, "a cluster")
    nodes = plan(ingest, workers, api, port)
    env = node_env(settings.database_url, settings.redis_url, settings.bus_prefix)

    async def main() -> None:
        from clinician_api.migrate import upgrade_async

        await upgrade_async(settings.database_url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def say(text: str) -> None:  # "[ingest-1] ..." is the node's name, not rich markup
            console.print(text, markup=False, highlight=False, soft_wrap=True)

        running = [asyncio.create_task(supervise(n, env, host, stop, say)) for n in nodes]
        async with asyncio.timeout(120):
            await asyncio.gather(*(n.ready.wait() for n in nodes))
        table = Table(title="telemed cluster")
        for column in ("node", "role", "url"):
            table.add_column(column)
        for n in nodes:
            table.add_row(n.name, n.role, n.url)
            console.print(
                f"TELEMED_NODE {n.name} {n.role} {n.url}", highlight=False, soft_wrap=True
            )
        console.print(table)
        console.print("TELEMED_CLUSTER_READY", highlight=False)
        await asyncio.gather(*running)

    asyncio.run(main())
