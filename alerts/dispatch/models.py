"""Dispatch tables: responders, AEDs, incidents, offers, the incident timeline and its views."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime
from patient_hub.ingest.models import BigId


class Responder(Base):
    """A vetted volunteer (an account with role ``responder``) and where they last were.

    ``incident_id`` is the open incident they accepted; a responder on an incident is never
    offered another. The position is used only while fresh (``position_at``).
    """

    __tablename__ = "responders"
    __table_args__ = (Index("ix_responders_lat_lon", "latitude", "longitude"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    qualification: Mapped[str] = mapped_column(String(100), default="")
    vetted_until: Mapped[date | None] = mapped_column(Date(), default=None)
    on_duty: Mapped[bool] = mapped_column(Boolean(), default=False)
    latitude: Mapped[float | None] = mapped_column(Float(), default=None)
    longitude: Mapped[float | None] = mapped_column(Float(), default=None)
    position_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    incident_id: Mapped[str | None] = mapped_column(String(64), default=None)


class Aed(Base):
    """A public automated external defibrillator; ``access_hours`` as in ``hours.py``."""

    __tablename__ = "aeds"
    __table_args__ = (Index("ix_aeds_lat_lon", "latitude", "longitude"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    latitude: Mapped[float] = mapped_column(Float())
    longitude: Mapped[float] = mapped_column(Float())
    address: Mapped[str] = mapped_column(String(200), default="")
    access_hours: Mapped[str] = mapped_column(String(200), default="24/7")
    notes: Mapped[str] = mapped_column(Text(), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Prague")


class Incident(Base):
    """A suspected cardiac arrest at a place. ``accepted`` counts acceptances (at most
    ``max_accept``); the conditional update on it is what makes "at most K" hold under races."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_state_due", "state", "next_phase_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    latitude: Mapped[float] = mapped_column(Float())
    longitude: Mapped[float] = mapped_column(Float())
    address: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(String(300), default="")
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.id"), default=None)
    alert_id: Mapped[str | None] = mapped_column(String(200), default=None)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    outcome: Mapped[str | None] = mapped_column(String(20), default=None)
    phase: Mapped[int] = mapped_column(Integer(), default=0)
    next_phase_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    accepted: Mapped[int] = mapped_column(Integer(), default=0)
    max_accept: Mapped[int] = mapped_column(Integer(), default=2)


class Offer(Base):
    """An offer of an incident to one responder; ``task`` (cpr/aed) once accepted."""

    __tablename__ = "incident_offers"
    __table_args__ = (UniqueConstraint("incident_id", "responder_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    responder_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    state: Mapped[str] = mapped_column(String(20))
    phase: Mapped[int] = mapped_column(Integer())
    distance_m: Mapped[float] = mapped_column(Float())
    offered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    task: Mapped[str | None] = mapped_column(String(10), default=None)
    aed_id: Mapped[str | None] = mapped_column(ForeignKey("aeds.id"), default=None)
    status: Mapped[str | None] = mapped_column(String(20), default=None)


class IncidentEvent(Base):
    """One line of an incident's timeline: what happened, when, by whom."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_id: Mapped[str | None] = mapped_column(String(64), default=None)
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(String(300), default="")


class IncidentView(Base):
    """Every read of incident data: who, when, which incident, which view."""

    __tablename__ = "incident_views"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    what: Mapped[str] = mapped_column(String(40))
