"""Run Alembic migrations programmatically (``telemed db upgrade`` and server start-up)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def _ensure_sqlite_dir(database_url: str) -> None:
    if database_url.startswith("sqlite") and ":memory:" not in database_url:
        path = database_url.split(":///", 1)[1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at ``database_url`` to ``revision`` (blocking)."""
    _ensure_sqlite_dir(database_url)
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str) -> None:
    """Same, from inside a running event loop (env.py runs its own loop in a thread)."""
    await asyncio.to_thread(upgrade, database_url)


async def current_revision(database_url: str) -> str | None:
    """The schema revision the database is at (None: empty or not yet migrated)."""
    from alembic.runtime.migration import MigrationContext

    from patient_hub.db import make_engine

    _ensure_sqlite_dir(database_url)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
