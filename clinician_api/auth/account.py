"""The signed-in user's own account: change the password, see open sessions (browser, system,
address, when opened and last active), end one other session, or sign out everywhere (every
session of the account ends, on every device)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import select

from clinician_api.admin.schemas import OwnPasswordIn
from clinician_api.auth import csrf
from clinician_api.auth.devices import device_label, device_of
from clinician_api.deps import COOKIE_NAME, CurrentSession, Session
from patient_hub.accounts import security
from patient_hub.accounts import service as accounts
from patient_hub.accounts.security_models import AuthSession
from patient_hub.audit import service as audit
from telemed_core.errors import InvalidInput, NotFound
from telemed_core.values import utc_now

router = APIRouter(tags=["auth"])


class SessionOut(BaseModel):
    #: A handle of the session for ``DELETE /api/me/sessions/{id}`` (a hash: the session id
    #: itself is the token's ``sid`` and is not shown).
    id: str
    created_at: datetime
    last_seen_at: datetime
    current: bool
    device: str  # "Firefox on Windows" (English); "" when the browser sent no User-Agent
    browser: str  # the parts of ``device``, for a label in the reader's language
    system: str
    model: str
    user_agent: str | None
    client_ip: str | None


def _handle(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()[:24]


async def _live_sessions(session: Session, user_id: str) -> list[AuthSession]:
    rows = await session.scalars(
        select(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .order_by(AuthSession.created_at.desc())
    )
    return list(rows)


class EndedOut(BaseModel):
    sessions_ended: int


@router.get("/api/me/sessions", response_model=list[SessionOut])
async def my_sessions(session: Session, signed_in: CurrentSession) -> list[SessionOut]:
    """The account's open sessions, newest first (this one marked ``current``)."""
    who, sid = signed_in
    return [
        SessionOut(
            id=_handle(r.id),
            created_at=r.created_at,
            last_seen_at=r.last_seen_at,
            current=r.id == sid,
            device=device_label(r.user_agent),
            user_agent=r.user_agent,
            client_ip=r.client_ip,
            **device_of(r.user_agent)._asdict(),
        )  # fmt: skip
        for r in await _live_sessions(session, who.user_id)
    ]


@router.delete("/api/me/sessions/{session_id}", status_code=204)
async def end_one_session(session_id: str, session: Session, signed_in: CurrentSession) -> Response:
    """End one other session of your account (a browser you no longer use); this one is ended
    by signing out."""
    who, sid = signed_in
    row = next(
        (r for r in await _live_sessions(session, who.user_id) if _handle(r.id) == session_id), None
    )
    if row is None:
        raise NotFound(f"no open session {session_id!r} of your account")
    if row.id == sid:
        raise InvalidInput("that is this session: use Sign out to end it")
    await security.end_session(session, row.id, utc_now())
    await audit.record(
        session, actor=who, action="update", entity_type="User", entity_id=who.user_id,
        detail={"session_ended": device_label(row.user_agent), "client_ip": row.client_ip},
    )  # fmt: skip
    return Response(status_code=204)


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
