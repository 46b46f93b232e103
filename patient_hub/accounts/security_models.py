"""Server-side sign-in state: the signing key, sessions, failed sign-ins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from patient_hub.db import Base, UtcDateTime


class ServerSecret(Base):
    """A secret generated on first start and shared by every process of the cluster (they all
    read the same database). ``name`` is e.g. ``signing_key``."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuthSession(Base):
    """One sign-in. Its id is the ``sid`` claim of the access token; a token whose session is
    revoked, idle for too long or missing is refused."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    #: The browser's User-Agent at sign-in (cut to 400 characters) and the client's address
    #: (behind a trusted proxy, its X-Forwarded-For), so the user recognises each session.
    user_agent: Mapped[str | None] = mapped_column(String(400), default=None)
    client_ip: Mapped[str | None] = mapped_column(String(64), default=None)


class SignInFailure(Base):
    """A failed sign-in for a user name (existing or not): the throttle counts these, in the
    database so that every API process sees the same count."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
