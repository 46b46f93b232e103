"""Signed access tokens (JWT, HS256) carrying the user id, the role and the session id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from telemed_core.errors import NotAuthenticated

ALGORITHM = "HS256"
MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    session_id: str


def _usable(secret: str) -> str:
    if len(secret) < MIN_SECRET_LENGTH:  # never sign or verify with a missing or short key
        raise RuntimeError("the signing key is not loaded (or shorter than 32 characters)")
    return secret


def issue(secret: str, user_id: str, role: str, sid: str, now: datetime, ttl_s: int) -> str:
    claims = {
        "sub": user_id,
        "role": role,
        "sid": sid,
        "iat": now,
        "exp": now + timedelta(seconds=ttl_s),
    }
    return jwt.encode(claims, _usable(secret), algorithm=ALGORITHM)


def verify(secret: str, token: str) -> TokenClaims:
    """The claims of a valid, unexpired token with a session; NotAuthenticated otherwise."""
    try:
        claims = jwt.decode(
            token, _usable(secret), algorithms=[ALGORITHM], options={"require": ["exp", "sid"]}
        )
    except jwt.PyJWTError as exc:
        raise NotAuthenticated(f"invalid token: {exc}") from exc
    return TokenClaims(user_id=str(claims["sub"]), session_id=str(claims["sid"]))
