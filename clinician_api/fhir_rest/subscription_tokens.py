"""Websocket binding tokens of FHIR Subscriptions: short-lived JWTs signed with a key derived
from the server secret (never accepted as access tokens)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import jwt

from telemed_core.errors import NotAuthenticated

BINDING_TOKEN_TTL_S = 300


_TOKEN_TYPE = "fhir-ws-binding"


def _binding_key(secret: str) -> str:
    return hashlib.sha256(f"{secret}:{_TOKEN_TYPE}".encode()).hexdigest()


def issue_binding_token(
    secret: str, user_id: str, sub_ids: list[str], now: datetime
) -> tuple[str, datetime]:
    expires = now + timedelta(seconds=BINDING_TOKEN_TTL_S)
    claims = {"sub": user_id, "subs": sub_ids, "typ": _TOKEN_TYPE, "exp": expires}
    return jwt.encode(claims, _binding_key(secret), algorithm="HS256"), expires


def verify_binding_token(secret: str, token: str) -> tuple[str, list[str]]:
    """(user id, subscription ids) of a valid, unexpired binding token; NotAuthenticated."""
    try:
        claims = jwt.decode(token, _binding_key(secret), algorithms=["HS256"])
    except jwt.PyJWTError as exc:
        raise NotAuthenticated(f"invalid binding token: {exc}") from None
    if claims.get("typ") != _TOKEN_TYPE:
        raise NotAuthenticated("not a websocket binding token")
    return str(claims["sub"]), [str(s) for s in claims.get("subs", [])]
