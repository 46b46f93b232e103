"""Demo data of first-responder dispatch in Ostrava: homes of the demo patients, public AEDs,
volunteers on duty around them, and their phones' positions kept fresh while the demo runs."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alerts.dispatch.aed_import import AedRecord
from alerts.dispatch.models import Responder
from alerts.dispatch.service import import_aeds
from patient_hub.accounts.models import User
from patient_hub.accounts.service import create_user
from patient_hub.db import unit_of_work
from patient_hub.patients.models import Patient
from telemed_core.errors import Conflict
from telemed_core.values import utc_now

# (street, postcode, district, latitude, longitude, sex, birth date): streets and places of
# Ostrava; house numbers are made up.
HOMES = [
    ("Hlavní třída 41", "708 00", "Ostrava-Poruba", 49.83350, 18.17000, "female", date(1949, 3, 2)),
    ("Horní 86", "700 30", "Ostrava-Zábřeh", 49.80200, 18.24700, "male", date(1955, 7, 19)),
    (
        "Sokolská třída 12",
        "702 00",
        "Ostrava-Přívoz",
        49.84990,
        18.27010,
        "female",
        date(1961, 1, 8),
    ),
    ("Nádražní 12", "702 00", "Moravská Ostrava", 49.83900, 18.28700, "male", date(1958, 11, 23)),
    ("Mírová 3", "703 00", "Ostrava-Vítkovice", 49.81800, 18.27200, "male", date(1947, 5, 30)),
    ("Bílovecká 20", "721 00", "Ostrava-Svinov", 49.81900, 18.21500, "female", date(1952, 9, 14)),
]

AEDS = [
    AedRecord("aed-nova-radnice", 49.83460, 18.28200, "Prokešovo náměstí 8, Ostrava",
              "Mo-Fr 07:00-18:00", "New Town Hall, ground-floor lobby by the porter's desk"),
    AedRecord("aed-masarykovo", 49.83570, 18.29250, "Masarykovo náměstí, Ostrava", "24/7",
              "Wall cabinet at the entrance of the Ostrava Museum (old town hall)"),
    AedRecord("aed-karolina", 49.83160, 18.28650, "Forum Nová Karolina, Jantarová 4",
              "Mo-Su 09:00-21:00", "Ground floor, at the information desk"),
    AedRecord("aed-hlavni-nadrazi", 49.85250, 18.26900, "Ostrava hlavní nádraží, Nádražní",
              "24/7", "Main hall, next to the ticket office"),
    AedRecord("aed-svinov", 49.82100, 18.21100, "Ostrava-Svinov railway station", "24/7",
              "Ticket hall, opposite the platforms' stairs"),
    AedRecord("aed-fno", 49.83000, 18.16000, "Fakultní nemocnice Ostrava, 17. listopadu",
              "24/7", "Main entrance, at the reception"),
    AedRecord("aed-vsb", 49.83130, 18.16360, "VŠB-TU Ostrava, 17. listopadu 15",
              "Mo-Fr 07:00-20:00", "Building A lobby, by the lifts"),
    AedRecord("aed-ostravar-arena", 49.80500, 18.25400, "Ostravar Aréna, Ruská",
              "Mo-Su 08:00-22:00", "Main foyer, by the cloakroom"),
    AedRecord("aed-stodolni", 49.83800, 18.28300, "Stodolní, Ostrava", "Fr-Sa 20:00-04:00",
              "Municipal police post at the corner of Stodolní and Masná"),
    AedRecord("aed-dolni-vitkovice", 49.82000, 18.27500, "Dolní oblast Vítkovice, Ruská",
              "Mo-Su 09:00-19:00", "Visitor centre reception"),
]  # fmt: skip

# (username, qualification, home index it is near, metres north, metres east)
VOLUNTEERS = [
    ("responder", "volunteer firefighter (SDH)", 3, -200.0, 120.0),
    ("fr-dvorak", "municipal police", 3, 350.0, -150.0),
    ("fr-kralova", "trained citizen (ZZS MSK course)", 3, -500.0, -420.0),
    ("fr-prochazka", "volunteer firefighter (SDH)", 3, 900.0, 600.0),
    ("fr-cerna", "nurse, off shift", 3, -1300.0, 200.0),
    ("fr-vesely", "police", 0, 250.0, 150.0),
    ("fr-horakova", "trained citizen (ZZS MSK course)", 0, -400.0, 300.0),
    ("fr-marek", "volunteer firefighter (SDH)", 1, 300.0, -200.0),
    ("fr-pokorna", "trained citizen (ZZS MSK course)", 2, -150.0, 350.0),
    ("fr-benes", "municipal police", 4, 200.0, 250.0),
    ("fr-kucera", "volunteer firefighter (SDH)", 5, -300.0, -100.0),
]
FRESH_EVERY_S = 60.0
STALE_AFTER = timedelta(minutes=5)


async def seed_dispatch(session: AsyncSession, patient_ids: list[str], password: str) -> None:
    """Homes for the patients, the AED registry, vetted volunteers on duty around the homes."""
    for pid, home in zip(patient_ids, HOMES * (len(patient_ids) // len(HOMES) + 1), strict=False):
        patient = await session.get(Patient, pid)
        if patient is None:
            continue
        street, postcode, city, lat, lon, sex, born = home
        patient.address_line, patient.postal_code, patient.city, patient.country = (
            street, postcode, city, "CZ")  # fmt: skip
        patient.home_latitude, patient.home_longitude = lat, lon
        patient.sex, patient.birth_date = sex, born
    await import_aeds(session, AEDS, "Europe/Prague")
    now = utc_now()
    for name, qualification, near, north_m, east_m in VOLUNTEERS:
        user_id = await _responder_account(session, name, password)
        *_, home_lat, home_lon, _sex, _born = HOMES[near]
        lat = home_lat + north_m / 111_195.0
        lon = home_lon + east_m / 71_640.0  # metres per degree of longitude at 49.8° N
        responder = await session.get(Responder, user_id) or Responder(user_id=user_id)
        responder.qualification, responder.vetted_until = qualification, date(now.year + 1, 12, 31)
        responder.on_duty, responder.latitude, responder.longitude = True, lat, lon
        responder.position_at = now
        session.add(responder)
    await session.flush()


async def _responder_account(session: AsyncSession, name: str, password: str) -> str:
    with contextlib.suppress(Conflict):
        await create_user(session, name, password, "responder")
    user_id = await session.scalar(select(User.id).where(User.username == name))
    assert user_id is not None
    return user_id


async def keep_phones_fresh(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Simulated phones: a volunteer whose page sent nothing for 5 min reports their last
    position again, so it stays usable (a page that sends positions is never overwritten)."""
    names = [v[0] for v in VOLUNTEERS]
    while True:
        now = utc_now()
        async with unit_of_work(sessions) as session:
            ids = select(User.id).where(User.username.in_(names))
            await session.execute(
                update(Responder)
                .where(Responder.user_id.in_(ids), Responder.position_at < now - STALE_AFTER)
                .values(position_at=now)
            )
        await asyncio.sleep(FRESH_EVERY_S)
