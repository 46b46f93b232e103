"""The demo seed: patients in two telemedpoints, a cardiology cohort, reruns that grow it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from clinician_api.migrate import upgrade_async
from clinician_api.settings import ServerSettings
from patient_hub.access import visible_patient_ids
from patient_hub.accounts.models import User
from patient_hub.accounts.service import principal_of
from patient_hub.db import make_engine, make_sessionmaker
from telemed_cli.demo import seed


async def _visible(url: str, username: str) -> set[str] | None:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as s:
        user = (await s.scalars(select(User).where(User.username == username))).one()
        seen = await visible_patient_ids(s, principal_of(user))
    await engine.dispose()
    return seen


async def test_roles_see_different_screens_and_a_rerun_grows_the_cohort(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    await upgrade_async(url)
    settings = ServerSettings(database_url=url)
    await seed(settings, 6)
    nurse, cardio = await _visible(url, "nurse"), await _visible(url, "cardiologist")
    assert nurse == {"demo-1", "demo-3", "demo-5"}
    assert cardio == {"demo-1", "demo-2", "demo-3", "demo-4", "demo-5"}
    await seed(settings, 20)
    cardio = await _visible(url, "cardiologist")
    assert cardio is not None and {"demo-19", "demo-20"} <= cardio and "demo-6" not in cardio
    assert len(await _visible(url, "nurse") or ()) == 10
