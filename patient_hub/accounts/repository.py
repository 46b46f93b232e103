"""All SQL of accounts: users, the stored signing key, sessions and failed sign-ins."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.accounts.models import User
from patient_hub.accounts.security_models import AuthSession, ServerSecret, SignInFailure


async def user_by_name(session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username))


async def all_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.username))).all()


async def live_session_count(session: AsyncSession, user_id: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        )
        or 0
    )


async def secret(session: AsyncSession, name: str) -> str | None:
    return await session.scalar(select(ServerSecret.value).where(ServerSecret.name == name))


async def insert_secret_if_absent(
    session: AsyncSession, name: str, value: str, now: datetime
) -> None:
    """Insert unless another process did first (the caller reads the winner back)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        await session.execute(
            pg_insert(ServerSecret)
            .values(name=name, value=value, created_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    stmt = sqlite_insert(ServerSecret).on_conflict_do_nothing(index_elements=["name"])
    await session.execute(stmt.values(name=name, value=value, created_at=now))


async def add_session(session: AsyncSession, row: AuthSession) -> None:
    session.add(row)
    await session.flush()


async def get_session(session: AsyncSession, sid: str) -> AuthSession | None:
    return await session.get(AuthSession, sid)


async def revoke_sessions_of(
    session: AsyncSession, user_id: str, now: datetime, *, except_sid: str | None = None
) -> int:
    """End the user's live sessions (all, or all but ``except_sid``); returns how many."""
    stmt = update(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if except_sid is not None:
        stmt = stmt.where(AuthSession.id != except_sid)
    result = await session.execute(stmt.values(revoked_at=now))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def add_failure(session: AsyncSession, username: str, now: datetime) -> None:
    session.add(SignInFailure(username=username, at=now))
    await session.flush()


async def failure_times(
    session: AsyncSession, username: str, since: datetime
) -> Sequence[datetime]:
    """Times of the failed sign-ins of ``username`` since ``since``, oldest first."""
    rows = await session.scalars(
        select(SignInFailure.at)
        .where(SignInFailure.username == username, SignInFailure.at >= since)
        .order_by(SignInFailure.at)
    )
    return rows.all()


async def clear_failures(session: AsyncSession, username: str) -> None:
    await session.execute(delete(SignInFailure).where(SignInFailure.username == username))


async def prune_failures(session: AsyncSession, before: datetime) -> None:
    await session.execute(delete(SignInFailure).where(SignInFailure.at < before))


async def count_failures(session: AsyncSession, username: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(SignInFailure)
            .where(SignInFailure.username == username)
        )
        or 0
    )
