"""Sign-in security: the generated signing key, server-side sessions, throttling and lockout,
the password policy. Services never commit: the boundary does."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.accounts import repository as repo
from patient_hub.accounts.models import User
from patient_hub.accounts.security_models import AuthSession
from telemed_core.errors import InvalidInput, NotAuthenticated, TooManyRequests

SIGNING_KEY = "signing_key"


@dataclass(frozen=True)
class SignInLimits:
    """Failed sign-ins per user name: ``burst`` in ``burst_window`` throttles until the window
    has passed; ``lockout`` in ``lockout_window`` locks the name for ``lockout_window``."""

    burst: int = 5
    burst_window: timedelta = timedelta(minutes=1)
    lockout: int = 20
    lockout_window: timedelta = timedelta(hours=1)


LIMITS = SignInLimits()


async def ensure_signing_key(session: AsyncSession, now: datetime) -> str:
    """The cluster's signing key: generated (256 random bits) by the first process that starts
    and stored in the database, so every process of the cluster reads the same one."""
    existing = await repo.secret(session, SIGNING_KEY)
    if existing is not None:
        return existing
    await repo.insert_secret_if_absent(session, SIGNING_KEY, secrets.token_urlsafe(32), now)
    stored = await repo.secret(session, SIGNING_KEY)
    assert stored is not None  # inserted by us or by the process that won the race
    return stored


async def open_session(
    session: AsyncSession,
    user: User,
    now: datetime,
    user_agent: str | None = None,
    client_ip: str | None = None,
) -> AuthSession:
    """A new server-side session for ``user`` (its id goes into the token's ``sid``), with the
    browser and address it was opened from."""
    row = AuthSession(
        id="ses_" + secrets.token_urlsafe(18),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        revoked_at=None,
        user_agent=(user_agent or None) and user_agent[:400],
        client_ip=(client_ip or None) and client_ip[:64],
    )
    await repo.add_session(session, row)
    return row


#: last_seen_at is written at most this often per session (one write per minute, not per call).
TOUCH_EVERY = timedelta(seconds=60)


async def check_session(
    session: AsyncSession, sid: str, user_id: str, now: datetime, idle_timeout: timedelta
) -> None:
    """Accept a live session of ``user_id`` (and note it was seen); NotAuthenticated when it is
    unknown, signed out, or idle for longer than ``idle_timeout``."""
    row = await repo.get_session(session, sid)
    if row is None or row.user_id != user_id:
        raise NotAuthenticated("unknown session: sign in again")
    if row.revoked_at is not None:
        raise NotAuthenticated("this session was signed out: sign in again")
    if now - row.last_seen_at > idle_timeout:
        minutes = math.ceil(idle_timeout.total_seconds() / 60)
        raise NotAuthenticated(f"session ended after {minutes} min without activity: sign in again")
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        await session.flush()


async def end_session(session: AsyncSession, sid: str, now: datetime) -> None:
    """Sign out: the session's tokens are refused from now on."""
    row = await repo.get_session(session, sid)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
        await session.flush()


async def end_all_sessions(session: AsyncSession, user_id: str, now: datetime) -> int:
    return await repo.revoke_sessions_of(session, user_id, now)


async def check_throttle(
    session: AsyncSession, username: str, now: datetime, limits: SignInLimits = LIMITS
) -> None:
    """TooManyRequests while ``username`` has too many recent failed sign-ins; the password is
    then not even checked, so a right guess among many wrong ones gains nothing."""
    times = await repo.failure_times(session, username, now - limits.lockout_window)
    if len(times) >= limits.lockout:
        until = times[-limits.lockout] + limits.lockout_window
        minutes = math.ceil((until - now).total_seconds() / 60)
        raise TooManyRequests(
            f"account locked after {limits.lockout} failed sign-ins: try again in {minutes} min "
            "or ask an administrator to reset the password",
            retry_after_s=max(1, math.ceil((until - now).total_seconds())),
        )
    recent = [t for t in times if t > now - limits.burst_window]
    if len(recent) >= limits.burst:
        wait_s = max(
            1, math.ceil((recent[-limits.burst] + limits.burst_window - now).total_seconds())
        )
        raise TooManyRequests(
            f"too many failed sign-ins: wait {wait_s} s before trying again", retry_after_s=wait_s
        )


async def record_failure(session: AsyncSession, username: str, now: datetime) -> None:
    await repo.prune_failures(session, now - 2 * LIMITS.lockout_window)
    await repo.add_failure(session, username[:100], now)


async def clear_failures(session: AsyncSession, username: str) -> None:
    await repo.clear_failures(session, username)


MIN_PASSWORD_LENGTH = 10
MIN_STRENGTH = 3  # zxcvbn score 0-4: 3 is "safely unguessable: moderate protection offline"


def check_password_policy(password: str, username: str) -> None:
    """InvalidInput, saying why, for a password shorter than 10 characters, one containing the
    user name, or one that zxcvbn
    (Dropbox's estimator: dictionaries of common passwords, names, keyboard patterns, dates)
    scores below 3 of 4, the user name counting as known to an attacker."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if username and username.lower() in password.lower():
        raise InvalidInput("password must not contain the user name")
    from zxcvbn import zxcvbn  # lazy: its dictionaries take a moment to load

    verdict = zxcvbn(password[:100], user_inputs=[username])
    if verdict["score"] < MIN_STRENGTH:
        feedback = verdict["feedback"]
        why = " ".join([feedback.get("warning") or "", *feedback.get("suggestions", [])]).strip()
        raise InvalidInput(f"password is too easy to guess{': ' + why if why else ''}")
