"""CSRF protection for cookie-authenticated requests (one place; every screen reuses it).

Signed double-submit: at sign-in the server sets a readable cookie ``telemed_csrf`` holding
HMAC-SHA256(signing key, session id). A state-changing request authenticated by the session
cookie must echo that value in the ``X-CSRF-Token`` header (fetch) or a ``csrf_token`` form
field (HTML forms); another site can neither read the cookie nor compute the value. Requests
with a bearer token are not cookie-authenticated and need no CSRF token.

Screens: ``csrfToken()`` in ``/static/csrf.js`` reads the cookie; forms add a hidden field.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from telemed_core.errors import Forbidden

CSRF_COOKIE = "telemed_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def csrf_token(secret: str, session_id: str) -> str:
    """The CSRF token of a session: not guessable without the signing key."""
    return hmac.new(secret.encode(), f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def check_csrf(secret: str, session_id: str, submitted: str | None) -> None:
    """Forbidden unless ``submitted`` is the session's CSRF token."""
    if not submitted or not hmac.compare_digest(submitted, csrf_token(secret, session_id)):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")


async def submitted_csrf(request: Request) -> str | None:
    """The token a request carries: the header, else the form field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None
