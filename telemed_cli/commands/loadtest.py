"""``telemed loadtest``: simulated patients against a platform (``telemed_cli.loadtest``)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.table import Table

from telemed_cli.commands.common import _fail, console


def loadtest(
    patients: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    seconds: Annotated[float, typer.Option(min=1, help="simulated seconds of streaming")] = 30,
    hub: Annotated[
        str | None, typer.Option(help="measure a running hub (default: start the embedded one)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Simulated patients against a platform: throughput, latency, memory."""
    from telemed_cli.loadtest import run

    try:
        report = asyncio.run(run(patients, seconds, hub))
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
