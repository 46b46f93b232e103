"""The signed-in user of a web page (from the sign-in cookie), for the page routes."""

from __future__ import annotations

from fastapi import Request

from clinician_api.deps import COOKIE_NAME, principal_from_token
from clinician_api.i18n import language_for
from patient_hub.access import Principal
from patient_hub.accounts.models import User
from patient_hub.db import unit_of_work
from telemed_core.errors import TelemedError


async def page_principal(request: Request) -> Principal | None:
    """Who is signed in, or None (the page then sends them to sign in)."""
    try:
        async with unit_of_work(request.app.state.hub.sessions) as session:
            settings = request.app.state.settings
            return await principal_from_token(
                session,
                settings.secret_key,
                request.cookies.get(COOKIE_NAME),
                idle_timeout_s=settings.idle_timeout_s,
            )
    except TelemedError:
        return None


async def page_language(request: Request, who: Principal) -> str:
    """The language the user chose, or their role's default."""
    async with unit_of_work(request.app.state.hub.sessions) as session:
        user = await session.get(User, who.user_id)
    return language_for(who.role, user.language if user else None)
