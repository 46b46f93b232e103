"""Accounts: argon2id password hashes, creation and verification. Services never commit."""

from __future__ import annotations

import asyncio
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.access import Principal
from patient_hub.accounts import repository as repo
from patient_hub.accounts import security
from patient_hub.accounts.models import Role, User
from patient_hub.patients.models import Patient, Telemedpoint
from telemed_core.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from telemed_core.ids import new_id

_hasher = PasswordHasher()
#: A valid hash to verify against when the user does not exist (same timing either way).
_DUMMY_HASH = _hasher.hash("not-a-real-password")


# Argon2 is memory-hard by design (64 MiB, tens of milliseconds; seconds on a loaded machine)
# and releases the GIL: hashing in a worker thread keeps the hub's event loop, which carries
# every live stream and screen, from stalling for each sign-in.
async def _hash(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify(password_hash: str, password: str) -> None:
    await asyncio.to_thread(_hasher.verify, password_hash, password)


def principal_of(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        patient_id=user.patient_id,
        telemedpoint_id=user.telemedpoint_id,
    )


async def create_user(
    session: AsyncSession,
    username: str,
    password: str,
    role: Role | str,
    *,
    patient_id: str | None = None,
    telemedpoint_id: str | None = None,
) -> User:
    """Add a user; raise Conflict if the name is taken, InvalidInput for bad values.

    The password policy (``security.check_password_policy``) is the boundary's call: the CLI
    and the API apply it; the demo seeds its documented ``demo`` password.
    """
    try:
        role = Role(role)
    except ValueError as exc:
        raise InvalidInput(f"unknown role {role!r}; one of {[r.value for r in Role]}") from exc
    if not username or len(username) > 100 or not username.isprintable():
        raise InvalidInput("username must be 1-100 printable characters")
    if not password:
        raise InvalidInput("the password is empty")
    if role is Role.PATIENT and patient_id is None:
        raise InvalidInput("a patient account must be linked to a patient")
    await _check_relations(session, patient_id, telemedpoint_id)
    if await session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"user {username!r} exists")
    user = User(
        id=new_id("usr"),
        username=username,
        password_hash=await _hash(password),
        role=role.value,
        patient_id=patient_id,
        telemedpoint_id=telemedpoint_id,
        active=True,
    )
    session.add(user)
    await session.flush()
    return user


async def _check_relations(
    session: AsyncSession, patient_id: str | None, telemedpoint_id: str | None
) -> None:
    if patient_id is not None and await session.get(Patient, patient_id) is None:
        raise NotFound(f"no patient {patient_id!r}")
    if telemedpoint_id is not None and await session.get(Telemedpoint, telemedpoint_id) is None:
        raise NotFound(f"no telemedpoint {telemedpoint_id!r}")


async def verify_credentials(session: AsyncSession, username: str, password: str) -> User:
    """The active user with this password; NotAuthenticated otherwise."""
    user = await session.scalar(select(User).where(User.username == username))
    try:
        await _verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError) as exc:
        raise NotAuthenticated("wrong username or password") from exc
    if user is None or not user.active:
        raise NotAuthenticated("wrong username or password")
    return user


async def _named_user(session: AsyncSession, username: str) -> User:
    user = await repo.user_by_name(session, username)
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


async def set_password(session: AsyncSession, username: str, password: str, now: datetime) -> User:
    """Reset a password (policy-checked): ends the user's sessions and lifts a lockout."""
    security.check_password_policy(password, username)
    user = await _named_user(session, username)
    user.password_hash = await _hash(password)
    await security.end_all_sessions(session, user.id, now)
    await security.clear_failures(session, username)
    await session.flush()
    return user


async def set_active(session: AsyncSession, username: str, active: bool, now: datetime) -> User:
    """Disable (ending every session at once) or re-enable an account."""
    user = await _named_user(session, username)
    user.active = active
    if not active:
        await security.end_all_sessions(session, user.id, now)
    await session.flush()
    return user


async def list_users(session: AsyncSession) -> list[User]:
    """Every account, by user name (the admin screen's list)."""
    return list(await repo.all_users(session))


async def set_telemedpoint(
    session: AsyncSession, username: str, telemedpoint_id: str | None
) -> User:
    """Make a nurse a member of a telemedpoint (None: of none). A nurse sees the patients of
    her point at once (``patient_hub.access``); only nurses belong to a point."""
    user = await _named_user(session, username)
    if user.role != Role.NURSE.value:
        raise InvalidInput(f"{username!r} is a {user.role}: only nurses belong to a telemedpoint")
    await _check_relations(session, None, telemedpoint_id)
    user.telemedpoint_id = telemedpoint_id
    await session.flush()
    return user


async def change_own_password(
    session: AsyncSession, user_id: str, current: str, new: str, keep_sid: str, now: datetime
) -> int:
    """A signed-in user changes their own password: the current one must be right and the new
    one pass the policy; every other session of the user ends (this one, ``keep_sid``, stays).
    Returns how many sessions ended."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    try:
        await _verify(user.password_hash, current)
    except (VerificationError, InvalidHashError) as exc:
        raise InvalidInput("the current password is wrong") from exc
    if new == current:
        raise InvalidInput("the new password is the same as the current one")
    security.check_password_policy(new, user.username)
    user.password_hash = await _hash(new)
    ended = await repo.revoke_sessions_of(session, user.id, now, except_sid=keep_sid)
    await session.flush()
    return ended
