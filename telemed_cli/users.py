"""``telemed user``: add accounts, disable them, reset passwords (on the server's database)."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

user_app = typer.Typer(help="Accounts.", no_args_is_help=True)
console = Console()
T = TypeVar("T")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help="sqlite:///path or postgresql://...",
        envvar="TELEMED_DATABASE_URL",
        show_default="sqlite:///var/telemed.db",
    ),
]


def read_new_password(username: str) -> str:
    """At a terminal: prompt twice without echo and check the policy; from a pipe: one line."""
    from patient_hub.accounts.security import check_password_policy
    from telemed_core.errors import InvalidInput

    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
        check_password_policy(password, username)
        return password
    for _ in range(3):
        password = getpass.getpass(f"New password for {username}: ")
        try:
            check_password_policy(password, username)
        except InvalidInput as exc:
            console.print(f"[yellow]{exc.message}[/yellow]", highlight=False)
            continue
        if getpass.getpass("Repeat it: ") == password:
            return password
        console.print("[yellow]the two entries differ[/yellow]")
    raise InvalidInput("no acceptable password entered")


def _in_transaction(database_url: str | None, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` in one committed transaction on the migrated database."""
    from clinician_api.migrate import upgrade_async
    from clinician_api.settings import ServerSettings
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work

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

    return asyncio.run(main())


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[
        str, typer.Option(help="patient, nurse, cardiologist, responder, dispatcher, admin")
    ],
    patient: Annotated[str | None, typer.Option(help="patient id (role patient)")] = None,
    telemedpoint: Annotated[str | None, typer.Option(help="telemedpoint id (role nurse)")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add an account. The password is asked twice without echo (or read from standard input
    when it is not a terminal) and must pass the password policy."""
    from patient_hub.accounts.service import create_user

    password = read_new_password(name)

    async def work(session: Any) -> str:
        user = await create_user(
            session, name, password, role, patient_id=patient, telemedpoint_id=telemedpoint
        )
        return str(user.id)

    user_id = _in_transaction(database_url, work)
    console.print(f"added {name} ({role}) as {user_id}", highlight=False)


@user_app.command("disable")
def user_disable(name: str, database_url: DatabaseUrl = None) -> None:
    """Disable an account: it can no longer sign in and its open sessions end at once."""
    from patient_hub.accounts.service import set_active
    from telemed_core.values import utc_now

    _in_transaction(database_url, lambda s: set_active(s, name, False, utc_now()))
    console.print(f"disabled {name}; its sessions are ended", highlight=False)


@user_app.command("enable")
def user_enable(name: str, database_url: DatabaseUrl = None) -> None:
    """Enable a disabled account again."""
    from patient_hub.accounts.service import set_active
    from telemed_core.values import utc_now

    _in_transaction(database_url, lambda s: set_active(s, name, True, utc_now()))
    console.print(f"enabled {name}", highlight=False)


@user_app.command("reset-password")
def user_reset_password(name: str, database_url: DatabaseUrl = None) -> None:
    """Set a new password (asked as for ``user add``): ends the account's sessions and lifts
    a sign-in lockout."""
    from patient_hub.accounts.service import set_password
    from telemed_core.values import utc_now

    password = read_new_password(name)
    _in_transaction(database_url, lambda s: set_password(s, name, password, utc_now()))
    console.print(f"password of {name} reset; its sessions are ended", highlight=False)


@user_app.command("list")
def user_list(database_url: DatabaseUrl = None) -> None:
    """Every account: name, role, patient or telemedpoint, active or disabled (tab-separated)."""
    from patient_hub.accounts.service import list_users

    async def work(session: Any) -> list[tuple[str, str, str, str]]:
        return [
            (u.username, u.role, u.patient_id or u.telemedpoint_id or "-",
             "active" if u.active else "disabled")
            for u in await list_users(session)
        ]  # fmt: skip

    for row in _in_transaction(database_url, work):
        print("\t".join(row))  # plain, for scripts


@user_app.command("telemedpoint")
def user_telemedpoint(
    name: str,
    telemedpoint: Annotated[
        str | None, typer.Argument(help="omit: the nurse leaves her point")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Make a nurse a member of a telemedpoint: she sees its patients from now on."""
    from patient_hub.accounts.service import set_telemedpoint

    _in_transaction(database_url, lambda s: set_telemedpoint(s, name, telemedpoint))
    where = telemedpoint or "no telemedpoint"
    console.print(f"{name} now belongs to {where}", highlight=False)
