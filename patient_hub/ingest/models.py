"""Bridges and what they send: readings and waveform sample chunks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Bridge(Base):
    """A home gateway (one patient) or a kiosk (the patients of its telemedpoint).

    ``token_hash`` is the SHA-256 of a 256-bit random token: a high-entropy secret needs no slow
    password hash, and lookup stays O(1) for thousands of reconnecting bridges.
    """

    __tablename__ = "bridges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.id"), default=None)
    telemedpoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("telemedpoints.id"), default=None
    )
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    #: Blocks of sequence numbers reserved so far, one per outbox life (protocol.SEQ_BLOCK).
    seq_blocks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ReadingRow(Base):
    """One stored reading; (bridge_id, seq) makes ingest idempotent."""

    __tablename__ = "readings"
    __table_args__ = (
        UniqueConstraint("bridge_id", "seq", name="uq_readings_bridge_seq"),
        Index("ix_readings_patient_kind_time", "patient_id", "kind", "measured_at"),
        Index("ix_readings_patient_time", "patient_id", "measured_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bridge_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    patient_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str] = mapped_column(String(16))
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime())
    device_time: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime())
    flags: Mapped[str] = mapped_column(String(200), default="")


class SampleChunkRow(Base):
    """One chunk of waveform samples, stored as little-endian int32 bytes; a sample's value is
    ``factor * sample`` in ``unit`` (FHIR SampledData's factor)."""

    __tablename__ = "sample_chunks"
    __table_args__ = (
        UniqueConstraint("bridge_id", "seq", name="uq_sample_chunks_bridge_seq"),
        Index("ix_sample_chunks_patient_time", "patient_id", "start"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bridge_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    patient_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    lead: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(16))
    factor: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    fs_hz: Mapped[float] = mapped_column(Float)
    start: Mapped[datetime] = mapped_column(UtcDateTime())
    n_samples: Mapped[int] = mapped_column(Integer)
    samples: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime())
    flags: Mapped[str] = mapped_column(String(200), default="")
