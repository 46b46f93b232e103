"""Expected failures of any ``telemed`` command as one line for a person: no traceback, no
secret. ``explain`` maps an exception to that line; ``main`` is the console entry point."""

from __future__ import annotations

import errno
import re
from collections.abc import Callable
from typing import Any

#: user:password@ in a URL: the password never reaches the terminal.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z+]+://)(?P<user>[^:/@\s]*):[^@/\s]*@")


def redact(text: str) -> str:
    """``text`` with the passwords of URLs replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", text)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact(text[0] if text else type(exc).__name__)


def _database(exc: BaseException) -> str | None:
    try:
        from sqlalchemy.exc import DBAPIError
    except ImportError:  # an edge install has no SQLAlchemy
        return None
    if isinstance(exc, DBAPIError):
        original = exc.orig if exc.orig is not None else exc
        return f"database error: {_first_line(original)}"
    if type(exc).__module__.startswith("asyncpg"):
        return f"database error: {_first_line(exc)}"
    return None


def _http(exc: BaseException) -> str | None:
    try:
        import httpx
    except ImportError:
        return None
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        if response.status_code == 401:
            return f"the hub refused the credentials ({response.request.url.path}): wrong user or password"
        detail = _problem_detail(response)
        return f"the hub answered {response.status_code} to {response.request.method} {response.request.url.path}: {detail}"
    if isinstance(exc, httpx.TransportError):
        return f"cannot reach the hub at {exc.request.url.scheme}://{exc.request.url.netloc.decode()}: {_first_line(exc)}"
    return None


def _problem_detail(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return str(response.text)[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:300]
    return str(body)[:300]


def _settings(exc: BaseException) -> str | None:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        field = f"TELEMED_{where.upper()}: " if where else ""
        return f"invalid setting: {field}{first['msg'].removeprefix('Value error, ')}"
    return None


def _os(exc: BaseException) -> str | None:
    if isinstance(exc, OSError):
        if exc.errno == errno.EADDRINUSE:
            return "the port is already in use: stop the other server or choose --port"
        if exc.errno == errno.EADDRNOTAVAIL:
            return "cannot listen on that address: it is not one of this machine's (--host)"
        if exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ETIMEDOUT):
            return f"cannot connect: {_first_line(exc)}"
        return (
            f"{exc.strerror or _first_line(exc)}{': ' + str(exc.filename) if exc.filename else ''}"
        )
    return None


def _domain(exc: BaseException) -> str | None:
    from telemed_core.errors import TelemedError

    return redact(exc.message) if isinstance(exc, TelemedError) else None


_EXPLAINERS: tuple[Callable[[BaseException], str | None], ...] = (
    _domain,
    _settings,
    _database,
    _http,
    _os,
)


def explain(exc: BaseException) -> str:
    """One line saying what went wrong; unexpected errors name their type, never their
    traceback or local variables (which may hold a password or a hash)."""
    for explainer in _EXPLAINERS:
        line = explainer(exc)
        if line:
            return line
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc:
        inner = explain(cause)
        if not inner.startswith("unexpected"):
            return inner
    return f"unexpected {type(exc).__name__}: {_first_line(exc)}"
