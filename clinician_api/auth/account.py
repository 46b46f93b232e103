"""The signed-in user's own account: change the password, see open sessions, sign out
everywhere (every session of the account ends, on every device)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import select

from clinician_api.admin.schemas import OwnPasswordIn
from clinician_api.auth import csrf
from clinician_api.deps import COOKIE_NAME, CurrentSession, Session
from patient_hub.accounts import security
from patient_hub.accounts import service as accounts
from patient_hub.accounts.security_models import AuthSession
from telemed_core.values import utc_now

router = APIRouter(tags=["auth"])


class SessionOut(BaseModel):
    created_at: datetime
    last_seen_at: datetime
    current: bool


class EndedOut(BaseModel):
    sessions_ended: int


@router.get("/api/me/sessions", response_model=list[SessionOut])
async def my_sessions(session: Session, signed_in: CurrentSession) -> list[SessionOut]:
    """The account's open sessions, newest first (this one marked ``current``)."""
    who, sid = signed_in
    rows = await session.scalars(
        select(AuthSession)
        .where(AuthSession.user_id == who.user_id, AuthSession.revoked_at.is_(None))
        .order_by(AuthSession.created_at.desc())
    )
    return [
        SessionOut(created_at=r.created_at, last_seen_at=r.last_seen_at, current=r.id == sid)
        for r in rows
    ]


@router.post("/api/me/password", response_model=EndedOut)
async def change_password(
    body: OwnPasswordIn, session: Session, signed_in: CurrentSession
) -> EndedOut:
    """Change your own password (the current one is asked again; the new one must pass the
    policy). Your other sessions end; this one stays signed in."""
    who, sid = signed_in
    ended = await accounts.change_own_password(
        session, who.user_id, body.current_password, body.new_password, sid, utc_now()
    )
    return EndedOut(sessions_ended=ended)


@router.post("/api/me/sign-out-everywhere", response_model=EndedOut)
async def sign_out_everywhere(
    response: Response, session: Session, signed_in: CurrentSession
) -> EndedOut:
    """End every session of your account, this one included (a lost phone, a shared PC)."""
    who, _ = signed_in
    ended = await security.end_all_sessions(session, who.user_id, utc_now())
    response.delete_cookie(COOKIE_NAME)
    response.delete_cookie(csrf.CSRF_COOKIE)
    return EndedOut(sessions_ended=ended)
