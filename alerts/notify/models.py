"""Every notification sent (or refused) through the notification port."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime
from patient_hub.ingest.models import BigId


class NotificationRow(Base):
    """One message on one channel; ``status`` queued | sending (claimed at ``claimed_at`` by
    a sender, ``service.dispatch``) | sent | failed (with ``error``)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert_episodes.id"), default=None)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # email | sms | websocket
    recipient: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200))
    #: What the message is ("reminder" for a missed-measurement reminder), so the history finds
    #: it whatever language its subject was written in; None for alert messages.
    kind: Mapped[str | None] = mapped_column(String(32), default=None)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class ContactPoint(Base):
    """Where a patient (or a user) wants reminders: an e-mail address or a phone for SMS."""

    __tablename__ = "contact_points"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # email | sms
    address: Mapped[str] = mapped_column(String(200))
