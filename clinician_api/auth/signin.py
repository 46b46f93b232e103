"""Signing in: throttle, check the password, open a server-side session, issue its token."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from clinician_api.auth import tokens
from clinician_api.settings import ServerSettings
from patient_hub.accounts import security
from patient_hub.accounts.service import verify_credentials
from patient_hub.db import unit_of_work
from telemed_core.errors import NotAuthenticated
from telemed_core.values import utc_now

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


@dataclass(frozen=True)
class Access:
    token: str
    session_id: str
    role: str
    ttl_s: int


def plain_http_refusal(request: Request, settings: ServerSettings) -> str | None:
    """Why a production server will not sign anyone in over this request, or None.

    In production the session cookie is ``Secure``; a browser drops it over plain HTTP, so a
    sign-in would bounce silently. Loopback (the machine itself, or a TLS proxy on it that sets
    X-Forwarded-Proto) is fine.
    """
    if settings.environment != "production" or request.url.scheme == "https":
        return None
    if (request.url.hostname or "") in LOOPBACK_HOSTS:
        return None
    return (
        "This server runs in production mode and signs in only over HTTPS: open it through "
        'its TLS reverse proxy (https://…), see docs/operations.md, "TLS and reverse proxy".'
    )


async def sign_in(
    request: Request,
    session: AsyncSession,
    settings: ServerSettings,
    username: str,
    password: str,
) -> Access:
    """Throttle (TooManyRequests), verify (NotAuthenticated, the failure recorded in its own
    committed transaction so that the count survives the refused request), open a session."""
    now = utc_now()
    await security.check_throttle(session, username, now)
    try:
        user = await verify_credentials(session, username, password)
    except NotAuthenticated:
        async with unit_of_work(request.app.state.hub.sessions) as own:
            await security.record_failure(own, username, now)
        raise
    await security.clear_failures(session, username)
    opened = await security.open_session(
        session,
        user,
        now,
        user_agent=request.headers.get("user-agent"),
        client_ip=request.client.host if request.client else None,
    )
    ttl = settings.access_token_ttl_s
    token = tokens.issue(settings.secret_key, user.id, user.role, opened.id, now, ttl)
    return Access(token=token, session_id=opened.id, role=user.role, ttl_s=ttl)
