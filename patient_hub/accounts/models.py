"""User accounts: role and the relation that decides which patients they may see."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base


class Role(StrEnum):
    """Roles of the platform; access also depends on the user's relations."""

    PATIENT = "patient"
    NURSE = "nurse"
    CARDIOLOGIST = "cardiologist"
    RESPONDER = "responder"
    DISPATCHER = "dispatcher"
    ADMIN = "admin"


class User(Base):
    """A person who signs in. ``password_hash`` is argon2id."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.id"), default=None)
    telemedpoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("telemedpoints.id"), default=None
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The screens' language (``cs`` or ``en``); None: the role's default (Czech for patients
    #: and nurses, English for the rest).
    language: Mapped[str | None] = mapped_column(String(5), default=None)
