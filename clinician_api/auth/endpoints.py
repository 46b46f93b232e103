"""Sign-in: OAuth2 password flow for API clients, a cookie for the web screens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from clinician_api.auth import tokens
from clinician_api.deps import COOKIE_NAME, CurrentPrincipal, Session, get_settings
from clinician_api.settings import ServerSettings
from patient_hub.accounts.service import verify_credentials
from telemed_core.errors import NotAuthenticated
from telemed_core.values import utc_now

router = APIRouter()
_LOGIN_HTML = (Path(__file__).resolve().parents[1] / "web" / "login.html").read_text()

Settings = Annotated[ServerSettings, Depends(get_settings)]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


class MeOut(BaseModel):
    user_id: str
    username: str
    role: str
    patient_id: str | None
    telemedpoint_id: str | None


@router.post("/auth/token", response_model=TokenOut, tags=["auth"])
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: Session, settings: Settings
) -> TokenOut:
    """OAuth2 password flow: exchange username and password for a bearer token."""
    user = await verify_credentials(session, form.username, form.password)
    ttl = settings.access_token_ttl_s
    return TokenOut(
        access_token=tokens.issue(settings.secret_key, user.id, user.role, utc_now(), ttl),
        expires_in=ttl,
        role=user.role,
    )


@router.get("/api/me", response_model=MeOut, tags=["auth"])
async def me(who: CurrentPrincipal) -> MeOut:
    return MeOut(
        user_id=who.user_id,
        username=who.username,
        role=who.role.value,
        patient_id=who.patient_id,
        telemedpoint_id=who.telemedpoint_id,
    )


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(error: str | None = None) -> HTMLResponse:
    message = "Wrong username or password." if error else ""
    return HTMLResponse(_LOGIN_HTML.replace("{{error}}", message))


@router.post("/login", include_in_schema=False)
async def login_submit(
    session: Session,
    settings: Settings,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/monitor",
) -> RedirectResponse:
    try:
        user = await verify_credentials(session, username, password)
    except NotAuthenticated:
        return RedirectResponse("/login?error=1", status_code=303)
    ttl = settings.access_token_ttl_s
    access = tokens.issue(settings.secret_key, user.id, user.role, utc_now(), ttl)
    target = next if next.startswith("/") and not next.startswith("//") else "/monitor"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        access,
        max_age=ttl,
        httponly=True,
        samesite="strict",
        secure=settings.environment == "production",
    )
    return response


@router.get("/logout", include_in_schema=False)
async def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME)
    return response
