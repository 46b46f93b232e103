"""Alert episodes and their append-only history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime
from patient_hub.ingest.models import BigId


class AlertEpisode(Base):
    """One (patient, rule) condition from its first evidence until a person or the rule closes it.

    ``open_key`` is ``patient|rule`` while the episode is open and NULL once it is closed: the
    unique index makes "one open episode per (patient, rule)" a database fact, so two consumers
    racing on the same finding create one episode. ``state`` walks pending → active → delivered
    → accepted → resolved (or merged into a cardiac-arrest episode); ``condition`` says whether
    the physiological condition is still present (a latched high alert stays open after it
    clears). ``explanation`` holds the values, rule, threshold with provenance, baseline,
    persistence window, contributing findings and suppressed duplicates.
    """

    __tablename__ = "alert_episodes"
    __table_args__ = (
        Index("ix_alert_episodes_patient_opened", "patient_id", "opened_at"),
        Index("ix_alert_episodes_state", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    patient_id: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(16))  # clinical | technical | adherence
    priority: Mapped[str] = mapped_column(String(16))  # high | medium | low
    state: Mapped[str] = mapped_column(String(16))
    condition: Mapped[str] = mapped_column(String(16), default="present")  # present | cleared
    title: Mapped[str] = mapped_column(String(200))
    chain: Mapped[str] = mapped_column(String(64))
    tier: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    accepted_by: Mapped[str | None] = mapped_column(String(100), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(100), default=None)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    paused_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    pause_reason: Mapped[str | None] = mapped_column(Text, default=None)
    paused_by: Mapped[str | None] = mapped_column(String(100), default=None)
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("alert_episodes.id"), default=None)
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AlertEvent(Base):
    """One transition or receipt of an episode: who, when, what (append-only)."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_alert_at", "alert_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert_episodes.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(100))  # a username, or "system"
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Receipts (delivered/read per user) are recorded once: ``alert|action|user``.
    once_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
