"""Accounts: argon2id password hashes, creation and verification. Services never commit."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.access import Principal
from patient_hub.accounts.models import Role, User
from telemed_core.errors import Conflict, InvalidInput, NotAuthenticated
from telemed_core.ids import new_id

_hasher = PasswordHasher()
#: A valid hash to verify against when the user does not exist (same timing either way).
_DUMMY_HASH = _hasher.hash("not-a-real-password")

MIN_PASSWORD_LENGTH = 4


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
    """Add a user; raise Conflict if the name is taken, InvalidInput for bad values."""
    try:
        role = Role(role)
    except ValueError as exc:
        raise InvalidInput(f"unknown role {role!r}; one of {[r.value for r in Role]}") from exc
    if not username or len(username) > 100 or not username.isprintable():
        raise InvalidInput("username must be 1-100 printable characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if role is Role.PATIENT and patient_id is None:
        raise InvalidInput("a patient account must be linked to a patient")
    if await session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"user {username!r} exists")
    user = User(
        id=new_id("usr"),
        username=username,
        password_hash=_hasher.hash(password),
        role=role.value,
        patient_id=patient_id,
        telemedpoint_id=telemedpoint_id,
        active=True,
    )
    session.add(user)
    await session.flush()
    return user


async def verify_credentials(session: AsyncSession, username: str, password: str) -> User:
    """The active user with this password; NotAuthenticated otherwise."""
    user = await session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError) as exc:
        raise NotAuthenticated("wrong username or password") from exc
    if user is None or not user.active:
        raise NotAuthenticated("wrong username or password")
    return user
