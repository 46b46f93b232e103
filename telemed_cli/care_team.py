"""``telemed care-team``: which clinicians follow which patients (the cohorts)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

care_team_app = typer.Typer(
    help="Care teams: clinicians and the patients they follow.", no_args_is_help=True
)
console = Console()
T = TypeVar("T")
DbOption = Annotated[str | None, typer.Option("--database-url")]


def _run(database_url: str | None, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` in one committed transaction; domain errors exit 2 with a message."""
    from clinician_api.migrate import upgrade_async
    from clinician_api.settings import ServerSettings
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from telemed_core.errors import TelemedError

    settings = (
        ServerSettings() if database_url is None else ServerSettings(database_url=database_url)
    )

    async def main() -> T:
        await upgrade_async(settings.database_url)
        engine = make_engine(settings.database_url)
        try:
            async with unit_of_work(make_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except TelemedError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None


async def _clinician(session: Any, username: str) -> Any:
    from sqlalchemy import select

    from patient_hub.accounts.models import User
    from telemed_core.errors import InvalidInput, NotFound

    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    if user.role not in ("nurse", "cardiologist"):
        raise InvalidInput(f"{username!r} is a {user.role}: only clinicians are on care teams")
    return user


async def _patient(session: Any, patient_id: str) -> None:
    from patient_hub.patients.models import Patient
    from telemed_core.errors import NotFound

    if await session.get(Patient, patient_id) is None:
        raise NotFound(f"no patient {patient_id!r}")


def _audit(session: Any, action: str, user: Any, patient_id: str) -> Awaitable[Any]:
    from patient_hub.audit import service as audit

    return audit.record(
        session, actor=audit.Actor("cli"), action=action, entity_type="CareTeam",  # type: ignore[arg-type]
        entity_id=user.id, patient_id=patient_id, detail={"username": user.username},
    )  # fmt: skip


@care_team_app.command("add")
def add(username: str, patients: list[str], database_url: DbOption = None) -> None:
    """Let a clinician follow these patients."""
    from patient_hub.patients import service

    async def work(session: Any) -> None:
        user = await _clinician(session, username)
        for pid in patients:
            await _patient(session, pid)
            await service.add_to_care_team(session, user.id, pid)
            await _audit(session, "create", user, pid)

    _run(database_url, work)
    console.print(f"{username} now follows {', '.join(patients)}")


@care_team_app.command("remove")
def remove(username: str, patients: list[str], database_url: DbOption = None) -> None:
    """Stop a clinician following these patients."""
    from patient_hub.patients import service
    from telemed_core.errors import NotFound

    async def work(session: Any) -> None:
        user = await _clinician(session, username)
        for pid in patients:
            if not await service.remove_from_care_team(session, user.id, pid):
                raise NotFound(f"{username!r} does not follow {pid!r}")
            await _audit(session, "delete", user, pid)

    _run(database_url, work)
    console.print(f"{username} no longer follows {', '.join(patients)}")


@care_team_app.command("list")
def list_(patient: str, database_url: DbOption = None) -> None:
    """The clinicians following a patient."""
    from patient_hub.patients import service

    async def work(session: Any) -> list[tuple[str, str, str]]:
        await _patient(session, patient)
        return await service.care_team_of(session, patient)

    for _, username, role in _run(database_url, work):
        print(f"{username}\t{role}")  # plain tab-separated, for scripts
