"""`telemed audit verify`: exit 0 on an intact chain; exit 1 naming the first changed row."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from clinician_api.migrate import upgrade
from patient_hub.access import Principal
from patient_hub.accounts.models import Role
from patient_hub.audit import service as audit
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from telemed_cli.main import app

WHO = Principal(user_id="usr-1", username="admin", role=Role.ADMIN)


async def _fill(url: str, n: int) -> None:
    engine = make_engine(url)
    async with unit_of_work(make_sessionmaker(engine)) as s:
        for i in range(n):
            await audit.record(
                s, actor=WHO, action="read", entity_type="Patient", entity_id=f"p{i}"
            )
    await engine.dispose()


def test_verify_passes_then_names_the_changed_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    upgrade(url)
    asyncio.run(_fill(url, 4))
    ok = CliRunner().invoke(app, ["audit", "verify", "--database-url", url])
    assert ok.exit_code == 0 and "intact: 4 entries" in ok.output
    sync = sa.create_engine(url)
    with sync.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET entity_id = 'p9' WHERE seq = 2"))
    sync.dispose()
    broken = CliRunner().invoke(app, ["audit", "verify", "--database-url", url])
    assert broken.exit_code == 1 and "broken at entry 2" in broken.output
