"""``telemed audit``: check the hash chain of the audit log."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
console = Console()


async def _verify(database_url: str) -> Any:
    from patient_hub.audit import service as audit
    from patient_hub.db import make_engine, make_sessionmaker

    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await audit.verify(session)
    finally:
        await engine.dispose()


@audit_app.command("verify")
def verify(database_url: Annotated[str | None, typer.Option()] = None) -> None:
    """Recompute every entry's hash from the first; exit 1 naming the first broken entry."""
    from clinician_api.settings import ServerSettings

    settings = (
        ServerSettings() if database_url is None else ServerSettings(database_url=database_url)
    )
    try:
        verdict = asyncio.run(_verify(settings.database_url))
    except Exception as exc:  # an unreachable database or no audit table: say so, no traceback
        console.print(f"[red]error:[/red] cannot read the audit log: {type(exc).__name__}: {exc}")
        raise typer.Exit(2) from None
    if verdict.intact:
        console.print(f"audit chain intact: {verdict.entries} entries")
        return
    console.print(
        f"[red]audit chain broken at entry {verdict.broken_seq}:[/red] {verdict.reason} "
        f"({verdict.entries} entries before it hold)",
        highlight=False,
    )
    raise typer.Exit(1)
