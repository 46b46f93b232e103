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


def test_patients_of_earlier_simulations_become_test_data(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    upgrade(f"sqlite+aiosqlite:///{db}", "0005")
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            for pid, name in (("sim-1", "Simulated patient 1"), ("sim-x", "Real person"),
                              ("demo-2", "Janis Ozols"), ("p1", "Anna")):  # fmt: skip
                conn.execute(
                    sa.text(
                        "INSERT INTO patients (id, display_name, programme, created_at) "
                        "VALUES (:id, :name, 'heart_failure', '2026-01-01 00:00:00')"
                    ),
                    {"id": pid, "name": name},
                )
        upgrade(f"sqlite+aiosqlite:///{db}")
        with engine.connect() as conn:
            test = conn.execute(sa.text("SELECT id FROM patients WHERE is_test ORDER BY id"))
            assert [r[0] for r in test] == ["demo-2", "sim-1"]
    finally:
        engine.dispose()
