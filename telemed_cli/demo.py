"""Demo seed: one account per role (password ``demo``), a telemedpoint, simulated patients."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clinician_api.settings import ServerSettings
from patient_hub.accounts.models import Role, User
from patient_hub.accounts.service import create_user
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from patient_hub.patients import service as patients
from telemed_cli.demo_dispatch import seed_dispatch
from telemed_cli.simulate import SimBridge
from telemed_core.errors import Conflict
from telemed_core.values import utc_now

DEMO_PASSWORD = "demo"
TELEMEDPOINTS = (
    ("tmp-village-1", "Village telemedpoint 1"),
    ("tmp-village-2", "Village telemedpoint 2"),
)
TELEMEDPOINT = TELEMEDPOINTS[0][0]  # the demo nurse's point
NAMES = [
    "Anna Berzina",
    "Janis Ozols",
    "Ilze Kalnina",
    "Peteris Liepa",
    "Marta Zarina",
    "Andris Krumins",
    "Liga Vitola",
    "Edgars Balodis",
    "Inese Priede",
    "Karlis Sproge",
]


#: Who deteriorates in a plain ``telemed demo`` (each from 2-3 min, then every 10 min).
DEFAULT_SCENARIOS = {
    "demo-2": "desaturation",
    "demo-3": "hypertensive-crisis",
    "demo-4": "ventricular-fibrillation",
    "demo-5": "af",
    "demo-6": "battery-low",
}

KIOSK_ID = "demo-kiosk-1"


@dataclass
class DemoSeed:
    bridges: list[SimBridge]
    accounts: list[tuple[str, str]]
    kiosk_token: str = ""


def point_of(index: int) -> str:
    """Patients alternate between the two telemedpoints (demo-1 in the nurse's)."""
    return TELEMEDPOINTS[index % len(TELEMEDPOINTS)][0]


def default_programme(index: int) -> str:
    return "hypertension" if index % 3 == 2 else "heart_failure"


def in_cardiology_cohort(index: int) -> bool:
    """The cardiologist follows the heart-failure patients and demo-3 (the hypertensive crisis
    scenario); the nurse sees her point's patients; the admin everyone: three different screens."""
    return default_programme(index) == "heart_failure" or index == 2


async def _account(session: AsyncSession, role: Role, patient_id: str) -> User:
    """The demo account of ``role``, created once; reruns find it."""
    try:
        return await create_user(
            session, role.value, DEMO_PASSWORD, role,
            patient_id=patient_id if role is Role.PATIENT else None,
            telemedpoint_id=TELEMEDPOINT if role is Role.NURSE else None,
        )  # fmt: skip
    except Conflict:
        user = await session.scalar(select(User).where(User.username == role.value))
        assert user is not None
        return user


async def seed(
    settings: ServerSettings, n_patients: int, programme_of: dict[str, str] | None = None
) -> DemoSeed:
    """Idempotently create the demo's people and enrol one simulated bridge per patient.

    Rerunning with more patients adds them to their point and the cardiologist's cohort.
    """
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    bridges: list[SimBridge] = []
    try:
        async with unit_of_work(sessions) as session:
            for point_id, name in TELEMEDPOINTS:
                await patients.ensure_telemedpoint(session, point_id, name)
            ids = []
            for i in range(n_patients):
                pid = f"demo-{i + 1}"
                name = NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i + 1}")
                given, family = name.split(" ", 1)
                programme = (programme_of or {}).get(pid, default_programme(i))
                await patients.upsert_patient(
                    session, pid, name, utc_now(), programme=programme,
                    telemedpoint_id=point_of(i),
                    record={"given_name": given, "family_name": family, "is_test": True},
                )  # fmt: skip
                ids.append(pid)
            for role in Role:
                user = await _account(session, role, ids[0])
                if role is Role.CARDIOLOGIST:
                    for i, pid in enumerate(ids):
                        if in_cardiology_cohort(i):
                            await patients.add_to_care_team(session, user.id, pid)
            await seed_dispatch(session, ids, DEMO_PASSWORD)
            for i, pid in enumerate(ids):
                token = await patients.enrol_bridge(session, f"demo-bridge-{i + 1}", patient_id=pid)
                bridges.append(SimBridge(f"demo-bridge-{i + 1}", pid, token))
            kiosk_token = await patients.enrol_bridge(
                session, KIOSK_ID, telemedpoint_id=TELEMEDPOINT
            )
    finally:
        await engine.dispose()
    return DemoSeed(bridges, [(r.value, DEMO_PASSWORD) for r in Role], kiosk_token)
