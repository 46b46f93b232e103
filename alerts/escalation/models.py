"""Durable timers: escalation, delayed delivery, pause expiry, schedule checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime
from patient_hub.ingest.models import BigId


class AlertTimer(Base):
    """A job due at ``due_at``; done once ``done_at`` is set (in the transaction of its effect).

    ``key`` names the job (``escalate|<alert>|<tier>``) so that scheduling it twice is one row.
    """

    __tablename__ = "alert_timers"
    __table_args__ = (Index("ix_alert_timers_due", "done_at", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    done_by: Mapped[str | None] = mapped_column(String(100), default=None)
