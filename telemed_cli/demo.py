"""Demo seed: one account per role (password ``demo``), a telemedpoint, simulated patients."""

from __future__ import annotations

from dataclasses import dataclass

from clinician_api.settings import ServerSettings
from patient_hub.accounts.models import Role
from patient_hub.accounts.service import create_user
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from patient_hub.patients import service as patients
from telemed_cli.demo_dispatch import seed_dispatch
from telemed_cli.simulate import SimBridge
from telemed_core.errors import Conflict
from telemed_core.values import utc_now

DEMO_PASSWORD = "demo"
TELEMEDPOINT = "tmp-village-1"
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


@dataclass
class DemoSeed:
    bridges: list[SimBridge]
    accounts: list[tuple[str, str]]


async def seed(
    settings: ServerSettings, n_patients: int, programme_of: dict[str, str] | None = None
) -> DemoSeed:
    """Idempotently create the demo's people and enrol one simulated bridge per patient."""
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    bridges: list[SimBridge] = []
    try:
        async with unit_of_work(sessions) as session:
            await patients.ensure_telemedpoint(session, TELEMEDPOINT, "Village telemedpoint 1")
            ids = []
            for i in range(n_patients):
                pid = f"demo-{i + 1}"
                name = NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i + 1}")
                programme = "hypertension" if i % 3 == 2 else "heart_failure"
                given, family = name.split(" ", 1)
                programme = (programme_of or {}).get(pid, programme)
                await patients.upsert_patient(
                    session, pid, name, utc_now(), programme=programme,
                    telemedpoint_id=TELEMEDPOINT,
                    record={"given_name": given, "family_name": family, "is_test": True},
                )  # fmt: skip
                ids.append(pid)
            for role in Role:
                try:
                    user = await create_user(
                        session,
                        role.value,
                        DEMO_PASSWORD,
                        role,
                        patient_id=ids[0] if role is Role.PATIENT else None,
                        telemedpoint_id=TELEMEDPOINT if role is Role.NURSE else None,
                    )
                except Conflict:
                    continue
                if role is Role.CARDIOLOGIST:
                    for pid in ids:
                        await patients.add_to_care_team(session, user.id, pid)
            await seed_dispatch(session, ids, DEMO_PASSWORD)
            for i, pid in enumerate(ids):
                token = await patients.enrol_bridge(session, f"demo-bridge-{i + 1}", patient_id=pid)
                bridges.append(SimBridge(f"demo-bridge-{i + 1}", pid, token))
    finally:
        await engine.dispose()
    return DemoSeed(bridges, [(r.value, DEMO_PASSWORD) for r in Role])
