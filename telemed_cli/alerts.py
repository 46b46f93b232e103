"""``telemed alerts ...``: replay a proposed alert policy over a stored period."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

alerts_app = typer.Typer(
    help="Alerts: replay a policy change before switching it on.", no_args_is_help=True
)
console = Console()


def _when(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time") from exc
    if at.tzinfo is None:
        raise typer.BadParameter(f"{text!r} needs a time zone, e.g. 2026-12-01T00:00:00Z")
    return at


@alerts_app.command("replay")
def replay(
    policy: Annotated[
        Path,
        typer.Option(
            help="JSON: {reading_rules: {rule: {trigger, clear, persistence_s, rapid}}, disabled: [rule]}"
        ),
    ],
    since: Annotated[str, typer.Option(help="start of the period, ISO 8601 with zone")],
    until: Annotated[str, typer.Option(help="end of the period, ISO 8601 with zone")],
    database_url: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """How many alerts the proposed policy would have raised, against today's policy."""
    from alerts.replay.engine import load_policy
    from alerts.replay.service import replay_period
    from clinician_api.settings import ServerSettings
    from patient_hub.db import make_engine, make_sessionmaker
    from telemed_core.errors import TelemedError

    settings = (
        ServerSettings() if database_url is None else ServerSettings(database_url=database_url)
    )
    start, end = _when(since), _when(until)

    async def main() -> dict[str, Any]:
        proposed = load_policy(policy)
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await replay_period(session, proposed, start, end)
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(main())
    except TelemedError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None
    if as_json:
        console.print_json(json.dumps(report))
        return
    _table(report)


def _table(report: dict[str, Any]) -> None:
    current, proposed = report["current"], report["proposed"]
    table = Table(
        title=f"Alerts {report['since']} – {report['until']} ({report['readings']} readings, {report['findings']} findings)"
    )
    table.add_column("rule")
    table.add_column(current["policy"], justify="right")
    table.add_column(proposed["policy"], justify="right")
    for rule in sorted(set(current["by_rule"]) | set(proposed["by_rule"])):
        table.add_row(
            rule, str(current["by_rule"].get(rule, 0)), str(proposed["by_rule"].get(rule, 0))
        )
    table.add_row("total", str(current["alerts"]), str(proposed["alerts"]), style="bold")
    console.print(table)
