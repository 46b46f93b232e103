"""``telemed db``: the database schema."""

from __future__ import annotations

import asyncio

import typer

from telemed_cli.commands.common import DatabaseUrl, _settings, console
from telemed_cli.errors import redact

db_app = typer.Typer(help="Database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply the Alembic migrations to the database; says which database and what changed."""
    from clinician_api.migrate import current_revision, head_revision, upgrade

    settings = _settings(database_url=database_url)
    where = redact(settings.database_url)
    before = asyncio.run(current_revision(settings.database_url))
    upgrade(settings.database_url)
    after = asyncio.run(current_revision(settings.database_url))
    if before == after:
        console.print(
            f"{where}: already at the latest schema ({after})", highlight=False, soft_wrap=True
        )
    else:
        console.print(
            f"{where}: migrated from {before or 'an empty database'} to {after} "
            f"(head {head_revision()})",
            highlight=False,
            soft_wrap=True,
        )
