"""The kiosk's HTTP calls to the hub: enrolment (once), nurse sign-in and the telemedpoint's
patient list while online. Readings never go this way: they take the bridge's outbox."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from telemed_core.errors import Forbidden, NotAuthenticated, TelemedError

PBKDF2_ROUNDS = 200_000


class HubUnreachable(TelemedError):
    """The hub did not answer: the kiosk works offline."""

    status_code = 503
    code = "hub_unreachable"


@dataclass(frozen=True)
class Enrolment:
    bridge_id: str
    token: str
    telemedpoint_id: str
    telemedpoint_name: str


def http_base(hub_url: str) -> str:
    base = hub_url.rstrip("/").removesuffix("/ws/bridge")
    return base.replace("ws://", "http://", 1).replace("wss://", "https://", 1)


async def enrol(
    hub_url: str, enrolment_token: str, kiosk_name: str, timeout_s: float = 10.0
) -> Enrolment:
    """Spend an admin's enrolment token for this kiosk (``telemed kiosk setup``)."""
    body = {"enrolment_token": enrolment_token, "kiosk_name": kiosk_name}
    reply = await _call("POST", hub_url, "/api/kiosks/enrol", timeout_s, json=body)
    return Enrolment(
        reply["bridge_id"], reply["token"], reply["telemedpoint_id"], reply["telemedpoint_name"]
    )


async def sign_in(
    hub_url: str, username: str, password: str, telemedpoint_id: str, timeout_s: float
) -> str:
    """Check a nurse's credentials at the hub; return a bearer token. NotAuthenticated when
    wrong, Forbidden when not a nurse of this telemedpoint, HubUnreachable when offline."""
    form = {"username": username, "password": password}
    token = (await _call("POST", hub_url, "/auth/token", timeout_s, data=form))["access_token"]
    me = await _call("GET", hub_url, "/api/me", timeout_s, token=token)
    if me["role"] != "nurse" or me.get("telemedpoint_id") != telemedpoint_id:
        raise Forbidden("only the nurses of this telemedpoint sign in at this kiosk")
    return str(token)


async def patients(hub_url: str, token: str, timeout_s: float) -> list[dict[str, Any]]:
    """The patients the nurse may see (her telemedpoint's), as the hub lists them."""
    found = await _call("GET", hub_url, "/api/patients", timeout_s, token=token)
    return list(found)


async def _call(
    method: str, hub_url: str, path: str, timeout_s: float, *, token: str | None = None, **kw: Any
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with httpx.AsyncClient(base_url=http_base(hub_url), timeout=timeout_s) as client:
            response = await client.request(method, path, headers=headers, **kw)
    except httpx.HTTPError as exc:
        raise HubUnreachable(f"the hub does not answer ({type(exc).__name__})") from exc
    if response.status_code == 401:
        raise NotAuthenticated(_detail(response) or "wrong username or password")
    if response.status_code == 403:
        raise Forbidden(_detail(response) or "not allowed")
    if response.status_code >= 500:
        raise HubUnreachable(f"the hub answered {response.status_code}")
    if response.status_code >= 400:
        raise TelemedError(_detail(response) or f"the hub answered {response.status_code}")
    return response.json()


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))
    except ValueError:
        return ""


def hash_password(password: str, salt: bytes | None = None) -> tuple[bytes, bytes]:
    """PBKDF2-SHA256 of a password for offline sign-in (stdlib; never the password itself)."""
    salt = salt or secrets.token_bytes(16)
    return salt, hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ROUNDS)


def check_password(password: str, salt: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(hash_password(password, salt)[1], expected)
