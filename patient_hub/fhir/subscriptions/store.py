"""Stored Subscriptions: create, read and delete with access checks, and the event log's
replay."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.access import Principal, require_patient, visible_patient_ids
from patient_hub.accounts.models import Role
from patient_hub.fhir.subscriptions.models import SubscriptionEventRow, SubscriptionRow
from patient_hub.fhir.subscriptions.parse import SubscriptionSpec
from patient_hub.fhir.subscriptions.topics import MAX_EVENTS_PER_QUERY
from telemed_core.errors import NotFound


async def create_subscription(
    session: AsyncSession,
    body: Mapping[str, Any],
    spec: SubscriptionSpec,
    who: Principal,
    now: datetime,
) -> SubscriptionRow:
    """Store an active subscription; NotFound (404) when ``who`` may not see the patient."""
    await require_patient(session, who, spec.patient_id)
    sub_id = uuid.uuid4().hex
    resource = {**body, "id": sub_id, "status": "active"}
    row = SubscriptionRow(
        id=sub_id, owner_id=who.user_id, topic=spec.topic, patient_id=spec.patient_id,
        filters=[list(f) for f in spec.filters], content=spec.content,
        fhir_version=spec.fhir_version, heartbeat_s=spec.heartbeat_s, max_count=spec.max_count,
        status="active", end=spec.end, events_count=0, resource=resource, created_at=now,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return row


async def get_subscription(session: AsyncSession, sub_id: str, who: Principal) -> SubscriptionRow:
    """The subscription if ``who`` owns it (or is admin) and still sees its patient; else 404."""
    row = await session.get(SubscriptionRow, sub_id)
    if row is None or (row.owner_id != who.user_id and who.role is not Role.ADMIN):
        raise NotFound(f"no Subscription {sub_id!r}")
    await require_patient(session, who, row.patient_id)
    return row


async def owned_subscriptions(session: AsyncSession, who: Principal) -> list[SubscriptionRow]:
    """The caller's active subscriptions whose patient they still see."""
    stmt = select(SubscriptionRow).where(
        SubscriptionRow.owner_id == who.user_id, SubscriptionRow.status == "active"
    )
    visible = await visible_patient_ids(session, who)
    rows = (await session.scalars(stmt.order_by(SubscriptionRow.created_at))).all()
    return [r for r in rows if visible is None or r.patient_id in visible]


async def delete_subscription(session: AsyncSession, sub_id: str, who: Principal) -> None:
    row = await get_subscription(session, sub_id, who)
    await session.delete(row)


def subscription_resource(row: SubscriptionRow) -> dict[str, Any]:
    """The stored Subscription with its current status."""
    return {**row.resource, "id": row.id, "status": row.status}


async def events_between(
    session: AsyncSession, sub_id: str, since: int, until: int | None
) -> Sequence[SubscriptionEventRow]:
    """Logged events ``since`` .. ``until`` (inclusive), oldest first, at most 1000."""
    stmt = select(SubscriptionEventRow).where(
        SubscriptionEventRow.subscription_id == sub_id, SubscriptionEventRow.event_number >= since
    )
    if until is not None:
        stmt = stmt.where(SubscriptionEventRow.event_number <= until)
    stmt = stmt.order_by(SubscriptionEventRow.event_number).limit(MAX_EVENTS_PER_QUERY)
    return (await session.scalars(stmt)).all()
