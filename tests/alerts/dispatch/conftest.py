"""A migrated SQLite database with a dispatcher, one transaction per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from clinician_api.migrate import upgrade_async
from patient_hub.db import make_engine, make_sessionmaker
from tests.alerts.dispatch.helpers import add_dispatcher


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    url = f"sqlite:///{tmp_path / 'dispatch.db'}"
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s, s.begin():
            await add_dispatcher(s)
            yield s
    finally:
        await engine.dispose()
