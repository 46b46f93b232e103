"""The demo's dispatch data: homes, AEDs and volunteers on duty around the VF patient."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from alerts.dispatch import service
from alerts.dispatch.models import Aed, Offer
from alerts.dispatch.policy import DispatchPolicy
from clinician_api.settings import ServerSettings
from patient_hub.access import Principal
from patient_hub.accounts.models import Role, User
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from patient_hub.patients.models import Patient
from telemed_cli.demo import seed
from telemed_core.values import utc_now


async def test_an_incident_at_demo_4s_home_is_offered_to_the_demo_responder_first(
    tmp_path: Path,
) -> None:
    from clinician_api.migrate import upgrade_async

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    await upgrade_async(url)
    await seed(ServerSettings(database_url=url, environment="demo"), 6)
    await seed(ServerSettings(database_url=url, environment="demo"), 6)  # idempotent
    engine = make_engine(url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            home = await s.get(Patient, "demo-4")
            assert home is not None and home.home_latitude and home.home_longitude
            assert await s.scalar(select(func.count()).select_from(Aed)) == 10
            disp = await s.scalar(select(User).where(User.username == "dispatcher"))
            assert disp is not None
            who = Principal(disp.id, "dispatcher", Role.DISPATCHER)
            inc, _ = await service.create_incident(
                s, DispatchPolicy(), who, latitude=home.home_latitude,
                longitude=home.home_longitude, address="demo", summary="", now=utc_now(),
            )  # fmt: skip
            offered = (
                await s.execute(
                    select(User.username)
                    .join(Offer, Offer.responder_id == User.id)
                    .where(Offer.incident_id == inc.id)
                    .order_by(Offer.distance_m)
                )
            ).scalars()
            assert list(offered) == ["responder", "fr-dvorak", "fr-kralova"]
    finally:
        await engine.dispose()
