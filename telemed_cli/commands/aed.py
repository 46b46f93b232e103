"""``telemed aed``: the AED registry of first-responder dispatch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from telemed_cli.commands.common import _fail, _settings, console

aed_app = typer.Typer(help="The AED registry of first-responder dispatch.", no_args_is_help=True)


@aed_app.command("import")
def aed_import(
    file: Annotated[Path, typer.Argument(help="CSV or GeoJSON (.geojson/.json)")],
    timezone: Annotated[str, typer.Option(help="IANA zone of the access hours")] = "Europe/Prague",
    database_url: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Import or update AEDs: id, position, address, access hours, notes. All or nothing."""
    from telemed_cli.aeds import import_file
    from telemed_core.errors import TelemedError

    settings = _settings(database_url=database_url)
    try:
        text = file.read_text(encoding="utf-8-sig")
        count = asyncio.run(import_file(settings.database_url, text, file.name, timezone))
    except (TelemedError, OSError) as exc:
        _fail(getattr(exc, "message", None) or str(exc))
    console.print(f"imported {count} AEDs from {file}")
