"""Structured logs of the server roles: one JSON object per line on stderr.

Every line carries the time (UTC), level, logger, message, the process's role and node name,
and, when the line was written while serving one, the request id (``X-Request-ID``, set by
``clinician_api/request_log.py``) and the bridge id (set by the bridge socket after its hello).
Fields given with ``extra=`` are added. Nothing secret is written: fields whose name says
password, token, secret, cookie or authorization are replaced by ``***``, and so are URL
passwords, ``token=`` query parameters and bearer tokens inside any text.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
BRIDGE_ID: ContextVar[str | None] = ContextVar("bridge_id", default=None)

_SECRET_NAME = re.compile(r"password|passwd|token|secret|cookie|authorization|api_?key", re.I)
_SECRET_TEXT = (
    (re.compile(r"(?P<k>[a-z+]+://[^:/@\s]*:)[^@/\s]*@"), r"\g<k>***@"),  # URL password
    (re.compile(r"(?P<k>(?:access_)?token=)[^&\s\"']+", re.I), r"\g<k>***"),  # query parameter
    (re.compile(r"(?P<k>bearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\g<k>***"),
)
#: Attributes every LogRecord has; anything else on a record came with ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


def redact(text: str) -> str:
    """``text`` without URL passwords, token query parameters and bearer tokens."""
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _field(name: str, value: Any) -> Any:
    if _SECRET_NAME.search(name):
        return "***"
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object (see the module docstring)."""

    def __init__(self, role: str, node: str) -> None:
        super().__init__()
        self.role = role
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
            "role": self.role,
            "node": self.node,
        }
        if (request_id := REQUEST_ID.get()) is not None:
            line["request_id"] = request_id
        if (bridge_id := BRIDGE_ID.get()) is not None:
            line["bridge_id"] = bridge_id
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in line:
                line[name] = _field(name, value)
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure(role: str, node: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every logger's records, as JSON lines, to ``stream`` (stderr); replaces the root
    logger's handlers, so call it once, at the start of a server process."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(role, node))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own lines go through ours
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
