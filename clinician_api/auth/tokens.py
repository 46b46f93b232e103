"""Signed access tokens (JWT, HS256) carrying the user id and role."""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt

from telemed_core.errors import NotAuthenticated

ALGORITHM = "HS256"


def issue(secret: str, user_id: str, role: str, now: datetime, ttl_s: int) -> str:
    claims = {"sub": user_id, "role": role, "iat": now, "exp": now + timedelta(seconds=ttl_s)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str) -> str:
    """Return the user id of a valid, unexpired token; NotAuthenticated otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp"]})
    except jwt.PyJWTError as exc:
        raise NotAuthenticated(f"invalid token: {exc}") from exc
    return str(claims["sub"])
