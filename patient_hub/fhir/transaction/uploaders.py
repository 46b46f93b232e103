"""Who posts a transaction: a signed-in admin or nurse, or an enrolled gateway."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.access import Principal, visible_patient_ids
from patient_hub.fhir.transaction.plan import UPLOAD_ROLES, Uploader
from patient_hub.fhir.transaction.storage import _hash
from patient_hub.ingest import service as ingest_service
from telemed_core.errors import (
    Forbidden,
    NotAuthenticated,
)
from telemed_core.protocol import Hello


def _source(kind: str, raw: str) -> str:
    """A synthetic bridge id that fits the 64-character column."""
    source = f"fhir:{kind}:{raw}"
    return source if len(source) <= 64 else f"fhir:{kind}:h{_hash(raw)[:40]}"


async def uploader_for_user(session: AsyncSession, who: Principal) -> Uploader:
    """Admins post for any enrolled patient, nurses for the patients they see; others 403."""
    if who.role not in UPLOAD_ROLES:
        raise Forbidden(
            f"role {who.role.value} may not post observations; admins, nurses and enrolled "
            "gateways (HTTP Basic bridge_id:token) may"
        )
    visible = await visible_patient_ids(session, who)
    patients = None if visible is None else frozenset(visible)
    return Uploader(source=_source("user", who.user_id), patients=patients)


async def uploader_for_gateway(
    session: AsyncSession, bridge_id: str, token: str, now: datetime
) -> Uploader:
    """An enrolled bridge posting with its credential, for the patients it may send for."""
    try:
        hello = Hello(bridge_id=bridge_id, token=token)
    except ValidationError:
        raise NotAuthenticated("unknown bridge or wrong token") from None
    bridge = await ingest_service.authenticate(session, hello, now)
    return Uploader(source=_source("gw", bridge_id), patients=frozenset(bridge.allowed_patients))
