"""Accounts for admins: list, create, disable/enable, reset a password, a nurse's telemedpoint,
a clinician's cohort. The same operations as ``telemed user`` and ``telemed care-team``."""

from __future__ import annotations

from fastapi import APIRouter, Response

from clinician_api.admin.schemas import (
    CohortOut,
    MembershipIn,
    PasswordIn,
    TelemedpointOut,
    UserIn,
    UserOut,
)
from clinician_api.deps import Admin, Session
from patient_hub.accounts import repository as accounts_repo
from patient_hub.accounts import service as accounts
from patient_hub.accounts.models import User
from patient_hub.audit import service as audit
from patient_hub.patients import service as patients
from telemed_core.errors import InvalidInput
from telemed_core.values import utc_now

router = APIRouter(tags=["admin"])


async def _out(session: Session, user: User) -> UserOut:
    return UserOut(
        user_id=user.id, username=user.username, role=user.role, active=user.active,
        patient_id=user.patient_id, telemedpoint_id=user.telemedpoint_id, language=user.language,
        live_sessions=await accounts_repo.live_session_count(session, user.id),
    )  # fmt: skip


async def _audit(session: Session, who: Admin, action: str, user: User, **detail: object) -> None:
    await audit.record(
        session, actor=who, action=action, entity_type="User", entity_id=user.id,  # type: ignore[arg-type]
        patient_id=user.patient_id, detail={"username": user.username, **detail},
    )  # fmt: skip


@router.get("/api/admin/users", response_model=list[UserOut])
async def list_users(session: Session, who: Admin) -> list[UserOut]:
    """Every account with its role, relations, state and open sessions."""
    return [await _out(session, u) for u in await accounts.list_users(session)]


@router.post("/api/admin/users", response_model=UserOut, status_code=201)
async def create_user(body: UserIn, session: Session, who: Admin) -> UserOut:
    """Add an account; the password must pass the policy (as in ``telemed user add``)."""
    from patient_hub.accounts.security import check_password_policy

    check_password_policy(body.password, body.username)
    if body.role != "nurse" and body.telemedpoint_id is not None:
        raise InvalidInput("only nurses belong to a telemedpoint")
    if body.role != "patient" and body.patient_id is not None:
        raise InvalidInput("only a patient account is linked to a patient")
    user = await accounts.create_user(
        session, body.username, body.password, body.role,
        patient_id=body.patient_id, telemedpoint_id=body.telemedpoint_id,
    )  # fmt: skip
    await _audit(session, who, "create", user, role=user.role)
    return await _out(session, user)


@router.post("/api/admin/users/{username}/disable", response_model=UserOut)
async def disable_user(username: str, session: Session, who: Admin) -> UserOut:
    """The account can no longer sign in; its open sessions end at once."""
    if username == who.username:
        raise InvalidInput("you cannot disable your own account")
    user = await accounts.set_active(session, username, False, utc_now())
    await _audit(session, who, "update", user, active=False)
    return await _out(session, user)


@router.post("/api/admin/users/{username}/enable", response_model=UserOut)
async def enable_user(username: str, session: Session, who: Admin) -> UserOut:
    user = await accounts.set_active(session, username, True, utc_now())
    await _audit(session, who, "update", user, active=True)
    return await _out(session, user)


@router.post("/api/admin/users/{username}/password", status_code=204)
async def reset_password(username: str, body: PasswordIn, session: Session, who: Admin) -> Response:
    """Set a new password (policy-checked): ends the account's sessions, lifts a lockout."""
    user = await accounts.set_password(session, username, body.password, utc_now())
    await _audit(session, who, "update", user, password="reset")
    return Response(status_code=204)


@router.put("/api/admin/users/{username}/telemedpoint", response_model=UserOut)
async def set_membership(
    username: str, body: MembershipIn, session: Session, who: Admin
) -> UserOut:
    """A nurse's telemedpoint: she sees its patients from now on (None: no point)."""
    user = await accounts.set_telemedpoint(session, username, body.telemedpoint_id)
    await _audit(session, who, "update", user, telemedpoint_id=body.telemedpoint_id)
    return await _out(session, user)


@router.get("/api/admin/users/{username}/patients", response_model=CohortOut)
async def cohort(username: str, session: Session, who: Admin) -> CohortOut:
    """The patients a clinician follows (care teams); add with ``POST /api/care-team``."""
    user = await patients.clinician_named(session, username)
    ids = await patients.followed_by(session, user.id)
    return CohortOut(username=user.username, role=user.role, patient_ids=ids)


@router.get("/api/telemedpoints", response_model=list[TelemedpointOut])
async def list_telemedpoints(session: Session, who: Admin) -> list[TelemedpointOut]:
    return [TelemedpointOut(id=t.id, name=t.name) for t in await patients.telemedpoints(session)]
