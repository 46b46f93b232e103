"""Sign-in: OAuth2 password flow for API clients, a cookie for the web screens; sign-out."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from clinician_api.auth import csrf, tokens
from clinician_api.auth.signin import plain_http_refusal, sign_in
from clinician_api.deps import (
    COOKIE_NAME,
    CurrentPrincipal,
    Session,
    get_settings,
    oauth2_scheme,
    request_token,
    session_of_token,
)
from clinician_api.i18n import render_page, translate_sentence, visitor_language
from clinician_api.settings import ServerSettings
from patient_hub.accounts import security
from patient_hub.accounts.models import User
from telemed_core.errors import Forbidden, NotAuthenticated, TooManyRequests
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
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: Session,
    settings: Settings,
) -> TokenOut:
    """OAuth2 password flow: exchange username and password for a bearer token (a new
    session). Five wrong passwords in a minute throttle the name (429 with Retry-After)."""
    refusal = plain_http_refusal(request, settings)
    if refusal:
        raise Forbidden(refusal)
    access = await sign_in(request, session, settings, form.username, form.password)
    return TokenOut(access_token=access.token, expires_in=access.ttl_s, role=access.role)


@router.post("/auth/logout", status_code=204, tags=["auth"])
async def api_logout(
    request: Request,
    session: Session,
    settings: Settings,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
) -> Response:
    """End the session of this token (cookie sign-ins also send the CSRF token)."""
    _, sid = await session_of_token(
        session, settings.secret_key, request_token(request, bearer), settings.idle_timeout_s
    )
    if bearer is None:
        csrf.check_csrf(settings.secret_key, sid, await csrf.submitted_csrf(request))
    await security.end_session(session, sid, utc_now())
    return Response(status_code=204)


@router.get("/api/me", response_model=MeOut, tags=["auth"])
async def me(who: CurrentPrincipal) -> MeOut:
    return MeOut(
        user_id=who.user_id,
        username=who.username,
        role=who.role.value,
        patient_id=who.patient_id,
        telemedpoint_id=who.telemedpoint_id,
    )


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no //host, no scheme): never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/monitor"


def login_page_html(
    message: str,
    status_code: int = 200,
    next_page: str = "/monitor",
    username: str = "",
    language: str = "en",
) -> HTMLResponse:
    """The sign-in page in ``language``, with ``message`` (English) translated into it."""
    target = _safe_next(next_page)
    page = _LOGIN_HTML.replace("{{error}}", html.escape(translate_sentence(message, language)))
    page = page.replace("{{username}}", html.escape(username, quote=True))
    page = page.replace("{{next_q}}", html.escape(quote(target, safe="/")))
    page = page.replace("{{lang}}", language).replace("{{next}}", html.escape(target))
    return HTMLResponse(render_page(page, language), status_code)


def _visitor(request: Request, chosen: str | None) -> str:
    return visitor_language(chosen, request.headers.get("accept-language"))


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(
    request: Request,
    settings: Settings,
    error: str | None = None,
    next: str | None = None,
    lang: str | None = None,
) -> HTMLResponse:
    language = _visitor(request, lang)
    refusal = plain_http_refusal(request, settings)
    if refusal:
        return login_page_html(refusal, next_page=_safe_next(next), language=language)
    messages = {"expired": "Your session ended: please sign in again."}
    text = messages.get(error or "", "Wrong username or password." if error else "")
    return login_page_html(text, next_page=_safe_next(next), language=language)


#: Where each role lands after signing in when no other page was asked for.
HOME = {"responder": "/respond", "dispatcher": "/dispatch"}


async def _landing(session: AsyncSession, username: str, next: str) -> str:
    target = _safe_next(next)
    if target != "/monitor":
        return target
    role = await session.scalar(select(User.role).where(User.username == username))
    return HOME.get(role or "", target)


@router.post("/login", include_in_schema=False)
async def login_submit(
    request: Request,
    session: Session,
    settings: Settings,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/monitor",
    lang: Annotated[str | None, Form()] = None,
) -> Response:
    language = _visitor(request, lang)
    refusal = plain_http_refusal(request, settings)
    if refusal:
        return login_page_html(refusal, 403, next, language=language)
    try:
        access = await sign_in(request, session, settings, username, password)
    except TooManyRequests as exc:
        text = exc.message[:1].upper() + exc.message[1:] + "."
        return login_page_html(text, 429, next, username, language)
    except NotAuthenticated:
        return login_page_html("Wrong username or password.", 401, next, username, language)
    response = RedirectResponse(await _landing(session, username, next), status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE_NAME,
        access.token,
        max_age=access.ttl_s,
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    response.set_cookie(
        csrf.CSRF_COOKIE,
        csrf.csrf_token(settings.secret_key, access.session_id),
        max_age=access.ttl_s,
        httponly=False,  # the screens' scripts read it to send it back
        samesite="strict",
        secure=secure,
    )
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, session: Session, settings: Settings) -> Response:
    """Sign out of the screens (a form POST with the CSRF token): ends the session server-side."""
    try:
        _, sid = await session_of_token(
            session, settings.secret_key, request.cookies.get(COOKIE_NAME), settings.idle_timeout_s
        )
    except NotAuthenticated:
        sid = None  # already ended: just clear the cookies
    if sid is not None:
        csrf.check_csrf(settings.secret_key, sid, await csrf.submitted_csrf(request))
        await security.end_session(session, sid, utc_now())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME)
    response.delete_cookie(csrf.CSRF_COOKIE)
    return response


__all__ = ["router", "tokens"]
