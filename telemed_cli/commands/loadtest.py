"""``telemed loadtest``: simulated patients against a platform (``telemed_cli.loadtest``)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.table import Table

from telemed_cli.commands.common import _cluster_engines, _fail, console


def loadtest(
    patients: Annotated[int, typer.Option(min=0, max=10_000)] = 100,
    seconds: Annotated[float, typer.Option(min=1, help="simulated seconds of streaming")] = 30,
    hub: Annotated[
        str | None, typer.Option(help="measure a running hub (default: start the embedded one)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    cluster: Annotated[
        bool, typer.Option("--cluster", help="start `telemed cluster` on PostgreSQL + Redis")
    ] = False,
    ingest: Annotated[int, typer.Option(min=1, max=32, help="--cluster: ingest nodes")] = 1,
    workers: Annotated[int, typer.Option(min=1, max=32, help="--cluster: workers")] = 2,
    api: Annotated[int, typer.Option(min=1, max=32, help="--cluster: API nodes")] = 2,
    database_url: Annotated[
        str | None,
        typer.Option(help="--cluster: a PostgreSQL server (a fresh database is made on it)"),
    ] = None,
    redis_url: Annotated[str | None, typer.Option(help="--cluster: redis://...")] = None,
    ecg_streams: Annotated[
        int, typer.Option(min=0, max=10_000, help="continuous 250 Hz ECG streams besides")
    ] = 0,
    generators: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="processes running the bridges (default: one per 2,500 bridges)"
        ),
    ] = None,
) -> None:
    """Simulated patients against a platform: throughput, latency, memory."""
    from telemed_cli.loadtest import run

    shape = None
    if cluster:
        if hub:
            _fail("--cluster starts a cluster; --hub measures a running one: give one of them")
        _, db, bus = _cluster_engines(database_url, redis_url, "the cluster --cluster starts")
        shape = (db, bus, (ingest, workers, api))
    try:
        report = asyncio.run(
            run(
                patients,
                seconds,
                hub,
                cluster=shape,
                ecg_streams=ecg_streams,
                generators=generators,
            )
        )
    except Exception as exc:  # show the reason, not a traceback, to the operator
        _fail(f"{type(exc).__name__}: {exc}")
    if as_json:
        print(json.dumps(report))
        return
    table = Table(title="telemed loadtest")
    table.add_column("figure")
    table.add_column("value")
    for key, value in report.items():
        table.add_row(key, str(value))
    console.print(table)
