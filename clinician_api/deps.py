"""Request dependencies: the hub context, a unit of work, the signed-in principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from clinician_api.auth import csrf, tokens
from clinician_api.settings import DEFAULT_IDLE_TIMEOUT_S, ServerSettings
from patient_hub.access import Principal
from patient_hub.accounts import security
from patient_hub.accounts.models import Role, User
from patient_hub.accounts.service import principal_of
from patient_hub.db import unit_of_work
from patient_hub.runtime import HubContext
from telemed_core.errors import Forbidden, NotAuthenticated, TelemedError
from telemed_core.values import utc_now

COOKIE_NAME = "telemed_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def get_hub(request: Request) -> HubContext:
    hub: HubContext = request.app.state.hub
    return hub


def get_settings(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed by the boundary when the handler succeeds."""
    async with unit_of_work(get_hub(request).sessions) as session:
        yield session


# scope="function": the transaction commits before the response is sent, so a client never
# hears "created" for something a failed commit lost, and can read it back at once.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def principal_from_token(
    session: AsyncSession,
    secret: str,
    token: str | None,
    *,
    idle_timeout_s: int = DEFAULT_IDLE_TIMEOUT_S,
) -> Principal:
    """The active user behind ``token`` whose session is live; NotAuthenticated otherwise."""
    return principal_of((await session_of_token(session, secret, token, idle_timeout_s))[0])


async def session_of_token(
    session: AsyncSession, secret: str, token: str | None, idle_timeout_s: int
) -> tuple[User, str]:
    """The active user and the live session id behind ``token``; NotAuthenticated otherwise."""
    if not token:
        raise NotAuthenticated("sign in first")
    claims = tokens.verify(secret, token)
    user = await session.get(User, claims.user_id)
    if user is None or not user.active:
        raise NotAuthenticated("the account no longer exists or is disabled")
    await security.check_session(
        session, claims.session_id, user.id, utc_now(), timedelta(seconds=idle_timeout_s)
    )
    return user, claims.session_id


async def websocket_principal(ws: WebSocket, session: AsyncSession) -> Principal:
    """The signed-in user of a screen's websocket: its ``?access_token=`` or sign-in cookie."""
    settings = ws.app.state.settings
    token = ws.query_params.get("access_token") or ws.cookies.get(COOKIE_NAME)
    return await principal_from_token(
        session, settings.secret_key, token, idle_timeout_s=settings.idle_timeout_s
    )


async def refuse_websocket(ws: WebSocket, exc: TelemedError) -> None:
    """Tell a screen why its websocket is refused (an error frame), then close it (1008)."""
    await ws.accept()
    await ws.send_json({"type": "error", "code": exc.code, "message": exc.message})
    await ws.close(1008)


def request_token(request: Request, bearer: str | None) -> str | None:
    return bearer or request.cookies.get(COOKIE_NAME)


async def current_session(
    request: Request,
    session: Session,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
) -> tuple[Principal, str]:
    """The signed-in user and their session id. A state-changing request signed in by the
    cookie (a screen) must carry the session's CSRF token (``clinician_api/auth/csrf.py``)."""
    settings = get_settings(request)
    user, sid = await session_of_token(
        session, settings.secret_key, request_token(request, bearer), settings.idle_timeout_s
    )
    if bearer is None and request.method not in SAFE_METHODS:
        csrf.check_csrf(settings.secret_key, sid, await csrf.submitted_csrf(request))
    return principal_of(user), sid


async def current_principal(
    signed_in: Annotated[tuple[Principal, str], Depends(current_session)],
) -> Principal:
    """The signed-in user (see ``current_session``)."""
    return signed_in[0]


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
CurrentSession = Annotated[tuple[Principal, str], Depends(current_session)]


def authenticate_token(app: FastAPI) -> Callable[[str | None], Awaitable[Principal]]:
    """How a socket of ``app`` turns its token (cookie or ``?access_token=``) into a Principal."""

    async def authenticate(token: str | None) -> Principal:
        hub: HubContext = app.state.hub
        settings: ServerSettings = app.state.settings
        async with unit_of_work(hub.sessions) as session:
            return await principal_from_token(
                session, settings.secret_key, token, idle_timeout_s=settings.idle_timeout_s
            )

    return authenticate


async def require_admin(who: CurrentPrincipal) -> Principal:
    if who.role is not Role.ADMIN:
        raise Forbidden("admin only")
    return who


Admin = Annotated[Principal, Depends(require_admin)]
