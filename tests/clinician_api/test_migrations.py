"""The Alembic migrations build exactly the schema the ORM models describe."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from clinician_api.migrate import upgrade
from clinician_api.migrations.models import Base


def test_migrations_match_the_models(tmp_path: Path) -> None:
    db = tmp_path / "schema.db"
    upgrade(f"sqlite+aiosqlite:///{db}")
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
