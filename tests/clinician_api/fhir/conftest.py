"""Fixtures of the FHIR search tests (``search_world.py``): the hub on SQLite, the same on
PostgreSQL, and ``any_world`` for tests that run on both. Module scope: each module that asks
gets its own hub. Modules that define a fixture of the same name keep their own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.clinician_api.fhir.search_world import World, running_world
from tests.conftest import POSTGRES_URL, require_service


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """The hub on SQLite (every test)."""
    async with running_world(f"sqlite:///{tmp_path_factory.mktemp('fhir') / 'hub.db'}") as w:
        yield w


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pg_world() -> AsyncIterator[World]:
    """The same on a fresh PostgreSQL database, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        async with running_world(POSTGRES_URL.rsplit("/", 1)[0] + "/" + name) as w:
            yield w
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_world(request: pytest.FixtureRequest) -> World:
    """For the tests whose SQL differs most between backends: run them on both."""
    found: World = request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")
    return found
