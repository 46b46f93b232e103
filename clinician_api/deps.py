"""Request dependencies: the hub context, a unit of work, the signed-in principal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from clinician_api.auth import tokens
from clinician_api.settings import ServerSettings
from patient_hub.access import Principal
from patient_hub.accounts.models import Role, User
from patient_hub.accounts.service import principal_of
from patient_hub.db import unit_of_work
from patient_hub.runtime import HubContext
from telemed_core.errors import Forbidden, NotAuthenticated

COOKIE_NAME = "telemed_token"
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


async def principal_from_token(session: AsyncSession, secret: str, token: str | None) -> Principal:
    """The active user behind ``token``; NotAuthenticated otherwise."""
    if not token:
        raise NotAuthenticated("sign in first")
    user = await session.get(User, tokens.verify(secret, token))
    if user is None or not user.active:
        raise NotAuthenticated("the account no longer exists or is disabled")
    return principal_of(user)


async def current_principal(
    request: Request,
    session: Session,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    token = bearer or request.cookies.get(COOKIE_NAME)
    return await principal_from_token(session, get_settings(request).secret_key, token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def require_admin(who: CurrentPrincipal) -> Principal:
    if who.role is not Role.ADMIN:
        raise Forbidden("admin only")
    return who


Admin = Annotated[Principal, Depends(require_admin)]
