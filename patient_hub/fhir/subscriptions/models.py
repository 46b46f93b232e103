"""Tables of the stored Subscriptions and their numbered event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime
from patient_hub.ingest.models import BigId


class SubscriptionRow(Base):
    """A topic-based Subscription; ``events_count`` is eventsSinceSubscriptionStart."""

    __tablename__ = "fhir_subscriptions"
    __table_args__ = (Index("ix_fhir_subscriptions_patient_status", "patient_id", "status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    topic: Mapped[str] = mapped_column(String(255))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    filters: Mapped[list[list[str]]] = mapped_column(JSON)
    content: Mapped[str] = mapped_column(String(16))
    fhir_version: Mapped[str] = mapped_column(String(8))
    heartbeat_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    end: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    events_count: Mapped[int] = mapped_column(BigInteger, default=0)
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SubscriptionEventRow(Base):
    """One numbered event of one subscription, kept for ``$events`` replay."""

    __tablename__ = "fhir_subscription_events"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_number", name="uq_fhir_subscription_events_number"),
        UniqueConstraint("subscription_id", "source_key", name="uq_fhir_subscription_events_source"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("fhir_subscriptions.id", ondelete="CASCADE")
    )
    event_number: Mapped[int] = mapped_column(BigInteger)
    source_key: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    focus: Mapped[dict[str, Any]] = mapped_column(JSON)
