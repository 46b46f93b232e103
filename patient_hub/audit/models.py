"""The audit log's tables: the entries and the chain head that serialises appends."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime


class AuditEntry(Base):
    """One audited act. ``hash`` is SHA-256 over the canonical encoding of every other column,
    ``prev_hash`` included, so changing, removing or reordering an entry breaks the chain.

    ``patient_id`` has no foreign key on purpose: the trail outlives the patient record.
    ``detail`` is canonical JSON (sorted keys, no spaces), hashed exactly as stored.
    """

    __tablename__ = "audit_log"
    #: removing test data never touches the trail (patients.service.remove_test_patients)
    __table_args__ = {"info": {"append_only": True}}

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    actor_id: Mapped[str | None] = mapped_column(String(64), default=None)
    action: Mapped[str] = mapped_column(String(20))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(200))
    patient_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    detail: Mapped[str | None] = mapped_column(Text(), default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row (id 1) naming the chain's last entry.

    Appending starts with ``UPDATE audit_head SET seq = seq + 1``: the row lock (PostgreSQL) or
    the write lock (SQLite) serialises concurrent writers until their transaction ends, so no
    two entries get one sequence number or one predecessor. It also lets verification notice
    entries cut off the end of the chain.
    """

    __tablename__ = "audit_head"
    __table_args__ = {"info": {"append_only": True}}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
